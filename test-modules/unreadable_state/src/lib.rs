//! Counter 2.3.0 whose state changed shape and whose `code_change` reads no
//! older state: an upgrade from v1 is refused at load (test fixture).

use counter_api::{CounterMsg, CounterReply};
use postcard_schema::Schema;
use relive_sdk::{Context, Module, ModuleError};
use serde::{Deserialize, Serialize};

/// The state: renamed field.
#[derive(Debug, Serialize, Deserialize, Schema)]
pub struct Counter {
    total: u64,
}

impl Module for Counter {
    const NAME: &'static str = "counter";
    type Args = u64;
    type Msg = CounterMsg;
    type Reply = CounterReply;

    fn init(start: u64, _: &mut Context<'_>) -> Result<Self, ModuleError> {
        Ok(Counter { total: start })
    }

    fn handle(&mut self, msg: CounterMsg, _: &mut Context<'_>) -> CounterReply {
        counter_api::v1_handle(&mut self.total, msg, 23)
    }
}

relive_sdk::export_module!(Counter);
