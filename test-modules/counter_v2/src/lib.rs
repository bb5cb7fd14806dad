//! Counter v2: the state gains a field (`adds`), `code_change` derives it from
//! v1's state, and `downgrade` writes v1's state again (test fixture).

use counter_api::{CounterMsg, CounterReply, CounterV1};
use postcard_schema::Schema;
use relive_sdk::{Context, Fingerprint, Module, ModuleError, OldState, StateWriter};
use serde::{Deserialize, Serialize};

/// The state: a count and how many `Add`s v2 has handled.
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
        if let CounterMsg::Add(_) = msg {
            self.adds += 1;
        }
        if let CounterMsg::Log(text) = &msg {
            relive_sdk::tracing::info!(text = %text, "counter v2 logs");
        }
        counter_api::v1_handle(&mut self.count, msg, 2)
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
