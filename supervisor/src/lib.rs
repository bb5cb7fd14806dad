//! # relive-supervisor: OTP's supervision semantics
//!
//! This crate holds the parts of OTP's `supervisor` that are pure decisions,
//! each defined exactly as OTP documents it and tested on its own:
//!
//! - [`ChildSpec`] and [`validate`]: child specifications, checked up front
//!   with typed errors (OTP's `check_childspecs`);
//! - [`Restart::should_restart`]: whether a child that exited with a given
//!   reason is restarted (`permanent`, `transient`, `temporary`);
//! - [`Strategy::plan`]: which children a strategy stops and restarts, in
//!   which order (`one_for_one`, `one_for_all`, `rest_for_one`,
//!   `simple_one_for_one`);
//! - [`Intensity`]: OTP's sliding window — more than `max_restarts` restarts
//!   within `period` and the supervisor gives up (defaults 1 in 5 s).
//!
//! ```
//! use relive_supervisor::{Intensity, Restart, Strategy, Exit};
//! use std::time::{Duration, Instant};
//!
//! // A transient child that exited normally is not restarted.
//! assert!(!Restart::Transient.should_restart(Exit::Normal));
//! // rest_for_one: the failed child and those started after it.
//! let plan = Strategy::RestForOne.plan(4, 1);
//! assert_eq!(plan.restart, vec![1, 2, 3]);
//! assert_eq!(plan.stop, vec![3, 2]); // the others first, in reverse order
//! // Intensity: one restart in 5 s is tolerated, a second gives up.
//! let mut i = Intensity::default();
//! let t = Instant::now();
//! assert!(i.add_restart(t).is_ok());
//! assert!(i.add_restart(t + Duration::from_secs(1)).is_err());
//! ```
//!
//! Running supervisors on a relive host — restarting children in place,
//! escalation, and crash-loop rollback of a bad upgrade — builds on these
//! ([`Supervisor`]). As in OTP: a restart that fails is retried (the child is
//! `restarting`, each attempt counts against the intensity); a child's
//! [`Shutdown`] bounds its stop; a `simple_one_for_one` has one template and
//! starts children from it with extra arguments
//! ([`Supervisor::start_simple_child`]); every call on a supervisor that has
//! exited answers a typed error (docs/decisions/0009).
#![forbid(unsafe_code)]

mod child;
mod child_spec;
mod error;
mod flags;
mod intensity;
mod probation;
mod report;
mod strategy;
mod supervisor;
mod tree;
mod view;

pub use child::{Child, ChildStart, StartFn, TemplateFn};
pub use child_spec::{ChildKind, ChildSpec, ChildSpecError, Restart, Shutdown, validate};
pub use error::{AdoptError, ChildError, StartError};
pub use flags::{Flags, FlagsError};
pub use intensity::{GiveUp, Intensity};
pub use probation::Probation;
pub use report::CrashLoopRollback;
pub use strategy::{Exit, Plan, Strategy};
pub use supervisor::{ChildInfo, ChildState, Counts, Supervisor};
