//! A module of the counter example (state and interface of v1, version
//! 1.5.0) whose library has an ELF constructor: loading the library — by a
//! host, or by any other process that `dlopen`s it — creates an empty file
//! named after the loading process's id in `$RELIVE_TEST_TRACE_DIR` (test
//! fixture). A process that only reads the file leaves no trace.

use counter_example_api::{Msg, Reply, StateV1};
use postcard_schema::Schema;
use relive_sdk::{Context, Module, ModuleError, OldState};
use serde::{Deserialize, Serialize};

/// The state: v1's.
#[derive(Debug, Serialize, Deserialize, Schema)]
pub struct Counter {
    count: u64,
}

impl Module for Counter {
    const NAME: &'static str = "counter";
    type Args = u64;
    type Msg = Msg;
    type Reply = Reply;
    const READS: &'static [relive_sdk::Fingerprint] = &[relive_sdk::Fingerprint::of::<StateV1>()];

    fn init(start: u64, _: &mut Context<'_>) -> Result<Self, ModuleError> {
        Ok(Counter { count: start })
    }

    fn handle(&mut self, msg: Msg, _: &mut Context<'_>) -> Reply {
        if let Msg::Add(n) = msg {
            self.count += n;
        }
        Reply { version: 15, count: self.count }
    }

    fn code_change(old: OldState<'_>, _extra: &[u8]) -> Result<Self, ModuleError> {
        let v1: StateV1 = old.decode()?;
        Ok(Counter { count: v1.count })
    }
}

relive_sdk::export_module!(Counter);

/// The constructor: `$RELIVE_TEST_TRACE_DIR/<pid>`, if the variable is set.
/// It cannot panic (errors are ignored), so nothing unwinds out of it.
extern "C" fn leave_a_trace() {
    if let Some(dir) = std::env::var_os("RELIVE_TEST_TRACE_DIR") {
        let _ = std::fs::write(
            std::path::Path::new(&dir).join(std::process::id().to_string()),
            b"loaded",
        );
    }
}

// The one `unsafe` outside `sdk/src/abi/` and `runtime/src/ffi/`: this
// fixture stands for a hostile library, and a load-time constructor is what
// it must have.
#[used]
// SAFETY: an `.init_array` entry is a function pointer that the dynamic
// loader calls once, after relocation and after libc is initialised, when
// the library is loaded; it passes `(argc, argv, envp)`, which an
// `extern "C" fn()` may ignore under the platform C ABI. The entry is a
// valid `extern "C" fn()` for the library's whole lifetime, and the function
// only reads the environment and writes one file, without unwinding.
#[unsafe(link_section = ".init_array")]
static LEAVE_A_TRACE: extern "C" fn() = leave_a_trace;
