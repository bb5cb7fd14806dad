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
//! // A call's error is `relive::CallError`, holding the message if it was
//! // not delivered.
//! let again: Result<String, relive::CallError<String>> = g.call("again".into());
//! assert_eq!(again?, "hello again (#2)");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Doing I/O: ports
//!
//! A module owns no runtime; the host registers named async services,
//! *ports*, and a handler asks one with `ctx.request`. The answer comes back
//! to the same actor's `on_reply`, which can answer a call deferred with
//! `defer_reply` (docs/guide.md, "Doing I/O: ports"):
//!
//! ```
//! use relive::{ActorRef, Host};
//! use relive::sdk::{Context, Module, ModuleError, PortResult, ReplyToken, RequestId};
//! use serde::{Deserialize, Serialize};
//! use postcard_schema::Schema;
//!
//! #[derive(Serialize, Deserialize, Schema)]
//! pub struct Doubler { waiting: Vec<(RequestId, ReplyToken)> }
//!
//! impl Module for Doubler {
//!     const NAME: &'static str = "doubler";
//!     type Args = ();
//!     type Msg = u64;
//!     type Reply = Result<u64, String>;
//!     fn init(_: (), _: &mut Context<'_>) -> Result<Self, ModuleError> {
//!         Ok(Doubler { waiting: Vec::new() })
//!     }
//!     fn handle(&mut self, n: u64, ctx: &mut Context<'_>) -> Result<u64, String> {
//!         // Returns at once; the port works on the host's runtime.
//!         let id = ctx.request::<u64, u64>("double", &n).map_err(|e| e.to_string())?;
//!         let token = ctx.defer_reply().ok_or("a cast has no caller")?;
//!         self.waiting.push((id, token));
//!         Ok(0) // not sent: the reply was deferred
//!     }
//!     fn on_reply(&mut self, id: RequestId, result: PortResult<'_>, ctx: &mut Context<'_>) {
//!         if let Some(i) = self.waiting.iter().position(|(w, _)| *w == id) {
//!             let (_, token) = self.waiting.swap_remove(i);
//!             let answer = result.decode::<u64>().map_err(|e| e.to_string());
//!             let _ = ctx.reply(token, &answer);
//!         }
//!     }
//! }
//!
//! let host = Host::new()?;
//! host.port("double", |n: u64| async move { Ok::<u64, String>(n * 2) })?;
//! host.code_server().upgrade("doubler", relive::sdk::declaration!(Doubler, version = "1.0.0"))?;
//! let d: ActorRef<u64, Result<u64, String>> = host.spawn("doubler", &())?;
//! assert_eq!(d.call(21)?, Ok(42));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Supervising what already runs
//!
//! A supervisor can adopt a running actor without restarting it: its state
//! is kept, and from then on a crash restarts it by the child spec given
//! ([`supervisor::Supervisor::adopt`]):
//!
//! ```
//! use relive::{ActorRef, Host};
//! use relive::sdk::{Context, Module, ModuleError};
//! use relive::supervisor::{Child, ChildSpec, ChildStart, Flags, Supervisor};
//! use serde::{Deserialize, Serialize};
//! use postcard_schema::Schema;
//!
//! #[derive(Serialize, Deserialize, Schema)]
//! pub struct Tally { n: u64 }
//!
//! impl Module for Tally {
//!     const NAME: &'static str = "tally";
//!     type Args = u64;
//!     type Msg = u64;
//!     type Reply = u64;
//!     fn init(n: u64, _: &mut Context<'_>) -> Result<Self, ModuleError> { Ok(Tally { n }) }
//!     fn handle(&mut self, add: u64, _: &mut Context<'_>) -> u64 { self.n += add; self.n }
//! }
//!
//! let host = Host::new()?;
//! host.code_server().upgrade("tally", relive::sdk::declaration!(Tally, version = "1.0.0"))?;
//! let t: ActorRef<u64, u64> = host.spawn("tally", &0u64)?;
//! t.call(41)?;
//! let sup = Supervisor::start(&host.handle(), Flags::default(), vec![])?;
//! let child = Child::new(ChildSpec::worker("tally", &["tally"]), ChildStart::module("tally", &0u64));
//! sup.adopt(&t.any(), child)?;               // no restart: the count is kept
//! assert_eq!(t.call(1)?, 42);
//! assert_eq!(sup.which_children()?.len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! See the repository's `README.md` for the tour and `docs/` for the guide,
//! the semantics, the ABI and every error reason.
#![forbid(unsafe_code)]

pub use relive_runtime::*;
/// Supervision trees with OTP's semantics, and crash-loop rollback.
pub use relive_supervisor as supervisor;

/// The Rust snippets of `README.md` and `docs/*.md` (but `docs/guide.md`:
/// its first pages are checked against what `relive new` writes by
/// `cli/tests/new.rs`, the rest are excerpts of compiled code, checked by
/// `examples/guide/tests/guide.rs`), compiled by
/// `cargo test --doc -p relive`: a name the docs use and the code lost fails
/// this crate's doctests. Host snippets that load a library from a path are
/// `no_run` (compiled, not run).
#[cfg(doctest)]
mod doc_snippets {
    macro_rules! doc_file {
        ($name:ident, $path:literal) => {
            #[doc = include_str!($path)]
            #[allow(dead_code)]
            struct $name;
        };
    }
    doc_file!(Readme, "../README.md");
    doc_file!(Abi, "../docs/abi.md");
    doc_file!(Benchmarks, "../docs/benchmarks.md");
    doc_file!(Cli, "../docs/cli.md");
    doc_file!(Errors, "../docs/errors.md");
    doc_file!(Metrics, "../docs/metrics.md");
    doc_file!(OtpMapping, "../docs/otp-mapping.md");
    doc_file!(Semantics, "../docs/semantics.md");
    doc_file!(ServiceSwap, "../docs/service-swap.md");
    doc_file!(Testing, "../docs/testing.md");
    // issue 16: observer
    doc_file!(Observer, "../docs/observer.md");
    doc_file!(StateDir, "../docs/decisions/0004-state-dir.md");
    // issue 18: remote actors on NATS (no Rust blocks yet: a name the page
    // gains a snippet for is compiled here)
    doc_file!(Cluster, "../docs/cluster.md");
}
