//! The `tls` module's code, shared by `tls_panicky` (1.0.0) and
//! `tls_panicky_v2` (2.0.0), so that a test or soak has two builds to
//! alternate between: the loader refuses another build of a version unless
//! forced, and a reload of the current build changes nothing.

use postcard_schema::Schema;
use relive_sdk::{Context, Module, ModuleError};
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use tls_api::{Hazards, TlsMsg, TlsReply};

/// The state: how many `Run`s this instance handled.
#[derive(Debug, Serialize, Deserialize, Schema)]
pub struct Tls {
    runs: u64,
}

/// A thread-local value with a destructor (so std registers one for the
/// thread that first touches it).
struct Touched(Cell<u64>);

impl Drop for Touched {
    fn drop(&mut self) {
        TOUCHES_DROPPED.fetch_add(self.0.get(), Ordering::Relaxed);
    }
}

thread_local! {
    static TOUCHED: Touched = const { Touched(Cell::new(0)) };
}

/// Touches counted by thread-local destructors that ran.
static TOUCHES_DROPPED: AtomicU64 = AtomicU64::new(0);
/// SIGUSR2 signals caught by [`on_sigusr2`].
static SIGUSR2_CAUGHT: AtomicU64 = AtomicU64::new(0);

fn major() -> u32 {
    env!("CARGO_PKG_VERSION_MAJOR").parse().unwrap_or(0)
}

extern "C" fn on_sigusr2(_: libc::c_int) {
    // ORDERING: a counter; an atomic add is async-signal-safe.
    SIGUSR2_CAUGHT.fetch_add(1, Ordering::Relaxed);
}

/// Make [`on_sigusr2`] the process's SIGUSR2 handler.
///
/// This fixture's one `unsafe`: it stands for a C-style module, and what such
/// a module does is install a handler with libc. The handler stays installed
/// after this library is unloaded, pointing into unmapped code — the hazard
/// the fixture is for; whoever raises SIGUSR2 then must know.
fn install_sigusr2() {
    let handler: extern "C" fn(libc::c_int) = on_sigusr2;
    // SAFETY: `signal` only replaces the process's disposition for SIGUSR2;
    // `handler` is an `extern "C" fn(c_int)` (the signature a handler has),
    // valid while this library is loaded, and only does an atomic add,
    // which is async-signal-safe.
    unsafe { libc::signal(libc::SIGUSR2, handler as libc::sighandler_t) };
}

fn run(h: Hazards) {
    if h.tls {
        TOUCHED.with(|t| t.0.set(t.0.get() + 1));
    }
    if h.current_thread {
        let _ = std::thread::current();
    }
    if h.sigusr2 {
        install_sigusr2();
    }
    if let Some(ms) = h.sleeper_ms {
        let panics = h.sleeper_panics;
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(ms));
            if let Some(text) = panics {
                panic!("{text}");
            }
        });
    }
    if let Some(text) = h.panic {
        panic!("{text}");
    }
}

impl Module for Tls {
    const NAME: &'static str = "tls";
    type Args = u64;
    type Msg = TlsMsg;
    type Reply = TlsReply;

    fn init(runs: u64, _: &mut Context<'_>) -> Result<Self, ModuleError> {
        Ok(Tls { runs })
    }

    fn handle(&mut self, msg: TlsMsg, _: &mut Context<'_>) -> TlsReply {
        if let TlsMsg::Run(h) = msg {
            self.runs += 1;
            run(h);
        }
        TlsReply {
            major: major(),
            runs: self.runs,
            // ORDERING: a counter read.
            sigusr2_caught: SIGUSR2_CAUGHT.load(Ordering::Relaxed),
        }
    }
}
