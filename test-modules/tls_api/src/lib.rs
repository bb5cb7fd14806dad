//! The interface of the `tls` module: the fixtures `tls_panicky` (1.0.0) and
//! `tls_panicky_v2` (2.0.0, the same code) and their callers. Each message
//! makes the handler do, in order, what a module does that can keep its
//! library mapped or leave something of it behind after unload.

use postcard_schema::Schema;
use serde::{Deserialize, Serialize};

/// What one `Run` does, in this order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub struct Hazards {
    /// Touch a `thread_local!` whose value implements `Drop`: std registers
    /// a `__cxa_thread_atexit_impl` destructor on the handler's thread.
    pub tls: bool,
    /// Call `std::thread::current()`: the module's std registers its own
    /// thread-exit destructor the first time on the handler's thread.
    pub current_thread: bool,
    /// Install a SIGUSR2 handler (a function of this library) with
    /// `libc::signal`, as a C-style module would.
    pub sigusr2: bool,
    /// Spawn a `std::thread` that sleeps this many milliseconds (a thread
    /// the module creates), then panics with `sleeper_panics` if given.
    pub sleeper_ms: Option<u64>,
    /// The text the sleeper thread panics with, outside any handler.
    pub sleeper_panics: Option<String>,
    /// Panic in the handler with this text, last.
    pub panic: Option<String>,
}

/// A message to the `tls` module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub enum TlsMsg {
    /// Do what the hazards say.
    Run(Hazards),
    /// Read the counters.
    Get,
}

/// The `tls` module's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub struct TlsReply {
    /// The major version of the code that answered.
    pub major: u32,
    /// `Run`s this instance handled.
    pub runs: u64,
    /// SIGUSR2 signals this library's handler has caught.
    pub sigusr2_caught: u64,
}
