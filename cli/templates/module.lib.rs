//! The {{name}} module. Its state lives in the host; `handle` answers one
//! message at a time. Write version 2 here, bump `version` in Cargo.toml,
//! and upgrade the running host to it (see README.md).

use {{ident}}_api::{Answer, Work};
use relive_sdk::prelude::*;

/// The state of one {{name}} actor.
#[data]
#[derive(Debug)]
pub struct State {
    total: u64,
    handled: u64,
}

impl Module for State {
    const NAME: &'static str = "{{name}}";
    type Args = ();
    type Msg = Work;
    type Reply = Answer;

    fn init(_: (), _: &mut Context<'_>) -> Result<Self, ModuleError> {
        Ok(State { total: 0, handled: 0 })
    }

    fn handle(&mut self, work: Work, _: &mut Context<'_>) -> Answer {
        if let Work::Add(n) = work {
            self.total += n;
            self.handled += 1;
        }
        Answer { version: env!("CARGO_PKG_VERSION").into(), total: self.total, handled: self.handled }
    }
}

relive_sdk::export_module!(State);
