//! Counter v1: the first version of the `counter` module (test fixture).
use counter_api::{CounterMsg, CounterReply};
use postcard_schema::Schema;
use relive_sdk::{Context, Module, ModuleError};
use serde::{Deserialize, Serialize};

/// The state: a count.
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
        if let CounterMsg::Log(text) = &msg {
            relive_sdk::tracing::info!(text = %text, "counter v1 logs");
        }
        counter_api::v1_handle(&mut self.count, msg, 1)
    }
}

relive_sdk::export_module!(Counter);
