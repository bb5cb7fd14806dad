// The `lifecycle` module, shared by `lifecycle_v1`, `lifecycle_v2` and
// `veto_on_load` (each `include!`s it and defines `policy`).
//
// What it tells a test goes through a side channel the test reads: a log
// file whose path a message gives (kept in this library's own statics —
// every loaded version has its own copy), one line per event.

use postcard_schema::Schema;
use relive_sdk::{Context, LoadInfo, Module, ModuleError};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::sync::Mutex;

/// What `on_load` saw, and where to log.
static SEEN: Mutex<Option<String>> = Mutex::new(None);
static LOG: Mutex<Option<String>> = Mutex::new(None);

/// The module's state.
#[derive(Debug, Serialize, Deserialize, Schema)]
pub struct Lifecycle {
    calls: u64,
}

/// Its messages.
#[derive(Debug, Serialize, Deserialize, Schema)]
pub enum LifecycleMsg {
    /// Append lines to the file at this path from now on.
    LogTo(String),
    /// Log `call-start`, sleep this many ms, log `call-end`.
    Sleep(u64),
    /// What `on_load` saw: `version previous|-`.
    Seen,
}

fn log(line: &str) {
    if let Some(path) = LOG.lock().unwrap_or_else(|p| p.into_inner()).as_deref()
        && let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path)
    {
        let _ = writeln!(f, "{line}");
    }
}

/// The kernel's name of the calling thread (std's `thread::current` in a
/// library would register a thread-local destructor, pinning it).
fn thread_name() -> String {
    std::fs::read_to_string("/proc/thread-self/comm").unwrap_or_default().trim().to_owned()
}

impl Module for Lifecycle {
    const NAME: &'static str = "lifecycle";
    type Args = ();
    type Msg = LifecycleMsg;
    type Reply = String;

    fn init((): (), _: &mut Context<'_>) -> Result<Self, ModuleError> {
        Ok(Lifecycle { calls: 0 })
    }

    fn handle(&mut self, msg: LifecycleMsg, _: &mut Context<'_>) -> String {
        self.calls += 1;
        match msg {
            LifecycleMsg::LogTo(path) => {
                *LOG.lock().unwrap_or_else(|p| p.into_inner()) = Some(path);
                String::new()
            }
            LifecycleMsg::Sleep(ms) => {
                log(&format!("call-start {}", env!("CARGO_PKG_VERSION")));
                std::thread::sleep(std::time::Duration::from_millis(ms));
                log(&format!("call-end {}", env!("CARGO_PKG_VERSION")));
                String::new()
            }
            LifecycleMsg::Seen => {
                SEEN.lock().unwrap_or_else(|p| p.into_inner()).clone().unwrap_or_default()
            }
        }
    }

    fn on_load(info: &LoadInfo<'_>) -> Result<(), ModuleError> {
        *SEEN.lock().unwrap_or_else(|p| p.into_inner()) = Some(format!(
            "{} {} {}",
            info.version(),
            info.previous().unwrap_or("-"),
            if info.is_upgrade() { "upgrade" } else { "first" }
        ));
        policy(info)
    }

    fn on_free() {
        log(&format!("free {} {}", env!("CARGO_PKG_VERSION"), thread_name()));
    }
}
