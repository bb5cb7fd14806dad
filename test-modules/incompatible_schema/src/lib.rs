//! Counter 2.2.0 built against a changed message type: refused at load,
//! since its callers still send the old messages (test fixture).

use counter_api::CounterReply;
use postcard_schema::Schema;
use relive_sdk::{Context, Module, ModuleError};
use serde::{Deserialize, Serialize};

/// A message type that drifted from the shared interface.
#[derive(Debug, Serialize, Deserialize, Schema)]
pub enum CounterMsg {
    /// Add (now 32-bit).
    Add(u32),
    /// Read.
    Get,
}

/// The state: a count (same as v1).
#[derive(Debug, Serialize, Deserialize, Schema)]
pub struct Counter {
    count: u64,
}

impl Module for Counter {
    const NAME: &'static str = "counter";
    type Args = u64;
    type Msg = CounterMsg;
    type Reply = CounterReply;

    fn init(start: u64, _: &mut Context<'_>) -> Result<Self, ModuleError> {
        Ok(Counter { count: start })
    }

    fn handle(&mut self, msg: CounterMsg, _: &mut Context<'_>) -> CounterReply {
        if let CounterMsg::Add(n) = msg {
            self.count += u64::from(n);
        }
        CounterReply { logic: 22, count: self.count }
    }
}

relive_sdk::export_module!(Counter);
