//! Counter 2.1.0 whose `code_change` from v1 panics (test fixture).

use counter_api::{CounterMsg, CounterReply, CounterV1};
use postcard_schema::Schema;
use relive_sdk::{Context, Fingerprint, Module, ModuleError, OldState};
use serde::{Deserialize, Serialize};

/// The state: a count and a flag.
#[derive(Debug, Serialize, Deserialize, Schema)]
pub struct Counter {
    count: u64,
    flag: bool,
}

impl Module for Counter {
    const NAME: &'static str = "counter";
    type Args = u64;
    type Msg = CounterMsg;
    type Reply = CounterReply;
    const READS: &'static [Fingerprint] = &[Fingerprint::of::<CounterV1>()];

    fn init(start: u64, _: &mut Context<'_>) -> Result<Self, ModuleError> {
        Ok(Counter { count: start, flag: false })
    }

    fn handle(&mut self, msg: CounterMsg, _: &mut Context<'_>) -> CounterReply {
        counter_api::v1_handle(&mut self.count, msg, 21)
    }

    fn code_change(old: OldState<'_>, _extra: &[u8]) -> Result<Self, ModuleError> {
        let _ = old;
        panic!("code_change exploded")
    }
}

relive_sdk::export_module!(Counter);
