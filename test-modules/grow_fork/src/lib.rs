//! A forked release of the `grow` module: release 1 plus `Clear` at index 2,
//! where release 2 put `Reset` (test fixture: once release 2 ran, even a
//! forced rollback does not free index 2 for another meaning).

use grow_api::{GrowState, fork::Msg, v1::Reply};
use relive_sdk::{Context, Module, ModuleError};

/// The module.
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
            Msg::Clear => self.0.count = 0,
        }
        Reply::Count { count: self.0.count, release: 3 }
    }
}

relive_sdk::export_module!(Grow);
