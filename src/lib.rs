//! # relive: live code upgrade and supervision for Rust services
//!
//! What Erlang/OTP gives BEAM services, for Rust: upgrade code in a running
//! process without dropping a request or losing state. Application code is
//! written as **modules** (`cdylib`s built against [`sdk`]); the [`Host`]
//! keeps their state in its own memory, and its [`CodeServer`] holds a
//! `current` and an `old` version of every module and migrates the running
//! actors' state between them.
//!
//! This crate is the one dependency a host needs: it re-exports the runtime
//! and, as [`supervisor`], the supervision trees.
//! A module depends on `relive-sdk`.
//!
//! ```
//! use relive::{ActorRef, Host};
//! use relive::sdk::{Context, Module, ModuleError};
//! use serde::{Deserialize, Serialize};
//! use postcard_schema::Schema;
//!
//! #[derive(Serialize, Deserialize, Schema)]
//! pub struct Greeter { greeted: u32 }
//!
//! impl Module for Greeter {
//!     const NAME: &'static str = "greeter";
//!     type Args = ();
//!     type Msg = String;
//!     type Reply = String;
//!     fn init(_: (), _: &mut Context<'_>) -> Result<Self, ModuleError> {
//!         Ok(Greeter { greeted: 0 })
//!     }
//!     fn handle(&mut self, name: String, _: &mut Context<'_>) -> String {
//!         self.greeted += 1;
//!         format!("hello {name} (#{})", self.greeted)
//!     }
//! }
//!
//! let host = Host::new()?;
//! let code = host.code_server();
//! code.upgrade("greeter", relive::sdk::declaration!(Greeter, version = "1.0.0"))?;
//! let g: ActorRef<String, String> = host.spawn("greeter", &())?;
//! assert_eq!(g.call("otp".into())?, "hello otp (#1)");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! See the repository's `README.md` for the tour and `docs/` for the guide,
//! the semantics, the ABI and every error reason.
#![forbid(unsafe_code)]

pub use relive_runtime::*;
/// Supervision trees with OTP's semantics, and crash-loop rollback.
pub use relive_supervisor as supervisor;
