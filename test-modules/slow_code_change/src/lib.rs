//! Counter 2.2: counter v2's state and logic, with a `code_change` that
//! takes as long as the upgrade's `extra` says — eight little-endian bytes,
//! milliseconds — before it migrates (test fixture for migration deadlines;
//! a huge value is a `code_change` that never returns).

use counter_api::{CounterMsg, CounterReply, CounterV1};
use postcard_schema::Schema;
use relive_sdk::{Context, Fingerprint, Module, ModuleError, OldState};
use serde::{Deserialize, Serialize};

/// The state: v2's.
#[derive(Debug, Serialize, Deserialize, Schema)]
pub struct Counter {
    count: u64,
    adds: u64,
}

impl Module for Counter {
    const NAME: &'static str = "counter";
    type Args = u64;
    type Msg = CounterMsg;
    type Reply = CounterReply;
    const READS: &'static [Fingerprint] = &[Fingerprint::of::<CounterV1>()];

    fn init(start: u64, _: &mut Context<'_>) -> Result<Self, ModuleError> {
        Ok(Counter { count: start, adds: 0 })
    }

    fn handle(&mut self, msg: CounterMsg, _: &mut Context<'_>) -> CounterReply {
        counter_api::v1_handle(&mut self.count, msg, 22)
    }

    fn code_change(old: OldState<'_>, extra: &[u8]) -> Result<Self, ModuleError> {
        if let Ok(ms) = <[u8; 8]>::try_from(extra) {
            std::thread::sleep(std::time::Duration::from_millis(u64::from_le_bytes(ms)));
        }
        let v1: CounterV1 = old.decode()?;
        Ok(Counter { count: v1.count, adds: 0 })
    }
}

relive_sdk::export_module!(Counter);
