//! The counter module's interface: the types its callers and every one of its
//! versions share. Changing any of them changes the interface fingerprint, and
//! a version built against a changed copy is refused (loader step 6).

use postcard_schema::Schema;
use serde::{Deserialize, Serialize};

/// A message to the counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub enum CounterMsg {
    /// Add to the count.
    Add(u64),
    /// Read the count.
    Get,
    /// A small order (an id, an amount, a 16-byte memo): counted once.
    Charge {
        /// Order id.
        id: u64,
        /// Amount.
        amount: i64,
        /// Memo.
        memo: String,
    },
    /// Emit this text as a `tracing` event inside the module.
    Log(String),
    /// Panic inside the handler with this text.
    Panic(String),
    /// Stay in the handler this many milliseconds (a long-running handler).
    Sleep(u64),
}

/// The counter's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub struct CounterReply {
    /// Which code answered: 1 for v1, 2 for v2, 101 for the v1 hotfix build…
    pub logic: u32,
    /// The count after the message.
    pub count: u64,
}

/// The state of counter v1, as v1 defines it and later versions keep a copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub struct CounterV1 {
    /// The count.
    pub count: u64,
}

/// v1's logic, shared by the fixtures that behave like v1: apply `msg` to
/// `count` and answer as `logic`.
pub fn v1_handle(count: &mut u64, msg: CounterMsg, logic: u32) -> CounterReply {
    match msg {
        CounterMsg::Add(n) => *count += n,
        CounterMsg::Get => {}
        CounterMsg::Charge { .. } => *count += 1,
        // Logging is the module's own business (this crate has no `tracing`).
        CounterMsg::Log(_) => {}
        CounterMsg::Panic(text) => panic!("{text}"),
        CounterMsg::Sleep(ms) => std::thread::sleep(std::time::Duration::from_millis(ms)),
    }
    CounterReply { logic, count: *count }
}

/// Define `Counter`, a module with v1's state and logic, in the invoking
/// fixture crate, varying only what the fixture is about: its declared
/// `name`, the `logic` number its replies carry, and optionally a hook run
/// at the start of `init` (say, one that panics).
///
/// The invoking crate depends on `relive-sdk`, `serde` and `postcard-schema`.
#[macro_export]
macro_rules! v1_counter_module {
    (name = $name:expr, logic = $logic:expr $(, init = $init:expr)? $(,)?) => {
        /// The state: a count (v1's shape).
        #[derive(Debug, ::serde::Serialize, ::serde::Deserialize, ::postcard_schema::Schema)]
        pub struct Counter {
            count: u64,
        }

        impl ::relive_sdk::Module for Counter {
            const NAME: &'static str = $name;
            type Args = u64;
            type Msg = $crate::CounterMsg;
            type Reply = $crate::CounterReply;

            fn init(
                start: u64,
                _: &mut ::relive_sdk::Context<'_>,
            ) -> Result<Self, ::relive_sdk::ModuleError> {
                $( ($init)(start); )?
                Ok(Counter { count: start })
            }

            fn handle(
                &mut self,
                msg: $crate::CounterMsg,
                _: &mut ::relive_sdk::Context<'_>,
            ) -> $crate::CounterReply {
                if let $crate::CounterMsg::Log(text) = &msg {
                    ::relive_sdk::tracing::info!(text = %text, "counter v{} logs", $logic);
                }
                $crate::v1_handle(&mut self.count, msg, $logic)
            }
        }
    };
}
