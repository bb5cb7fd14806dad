//! Counter v3: migrates from v1 and back like v2, but panics on `Add(n)`
//! when `n` is a multiple of 7 — a bad upgrade that crash-loops under such
//! traffic (test fixture).

use counter_api::{CounterMsg, CounterReply, CounterV1};
use postcard_schema::Schema;
use relive_sdk::{Context, Fingerprint, Module, ModuleError, OldState, StateWriter};
use serde::{Deserialize, Serialize};

/// The state: a count and how many `Add`s v3 handled.
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
    const DOWNGRADES_TO: &'static [Fingerprint] = &[Fingerprint::of::<CounterV1>()];

    fn init(start: u64, _: &mut Context<'_>) -> Result<Self, ModuleError> {
        Ok(Counter { count: start, adds: 0 })
    }

    fn handle(&mut self, msg: CounterMsg, _: &mut Context<'_>) -> CounterReply {
        if let CounterMsg::Add(n) = msg {
            assert!(n % 7 != 0, "v3 bug: cannot add {n}");
            self.adds += 1;
        }
        counter_api::v1_handle(&mut self.count, msg, 3)
    }

    fn code_change(old: OldState<'_>, _extra: &[u8]) -> Result<Self, ModuleError> {
        let v1: CounterV1 = old.decode()?;
        Ok(Counter { count: v1.count, adds: 0 })
    }

    fn downgrade(&self, _to: &str, out: &mut StateWriter<'_>) -> Result<(), ModuleError> {
        out.write(&CounterV1 { count: self.count })
    }
}

relive_sdk::export_module!(Counter);
