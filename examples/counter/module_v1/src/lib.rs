//! Counter, version 1: a count.

use counter_example_api::{Msg, Reply};
use relive_sdk::{Context, Module, ModuleError};

/// The state of v1.
#[relive_sdk::data]
#[derive(Debug)]
pub struct Counter {
    count: u64,
}

impl Module for Counter {
    const NAME: &'static str = "counter";
    type Args = u64;
    type Msg = Msg;
    type Reply = Reply;

    fn init(start: u64, _: &mut Context<'_>) -> Result<Self, ModuleError> {
        Ok(Counter { count: start })
    }

    fn handle(&mut self, msg: Msg, _: &mut Context<'_>) -> Reply {
        if let Msg::Add(n) = msg {
            self.count += n;
        }
        Reply { version: 1, count: self.count }
    }
}

relive_sdk::export_module!(Counter);
