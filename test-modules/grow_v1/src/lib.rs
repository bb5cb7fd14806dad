//! The `grow` module, release 1: `Add` and `Get` (test fixture).

use grow_api::{
    GrowState,
    v1::{Msg, Reply},
};
use relive_sdk::{Context, Module, ModuleError};

/// The module (its state is `GrowState`'s shape).
#[derive(Debug, serde::Serialize, serde::Deserialize, postcard_schema::Schema)]
pub struct Grow(GrowState);

impl Module for Grow {
    const NAME: &'static str = "grow";
    type Args = u64;
    type Msg = Msg;
    type Reply = Reply;

    fn init(count: u64, _: &mut Context<'_>) -> Result<Self, ModuleError> {
        Ok(Grow(GrowState { count }))
    }

    fn handle(&mut self, msg: Msg, _: &mut Context<'_>) -> Reply {
        match msg {
            Msg::Add(n) => self.0.count += n,
            Msg::Get => {}
        }
        Reply::Count { count: self.0.count, release: 1 }
    }
}

relive_sdk::export_module!(Grow);
