//! The `grow` module, release 3: appends `Double` to release 2's messages
//! (test fixture: a third release, so an actor started on release 1 meets a
//! sender typed on release 2 while release 3 runs).

use grow_api::{
    GrowState,
    v3::{Msg, Reply},
};
use relive_sdk::{Context, Module, ModuleError};

/// The module (the same state as releases 1 and 2: it migrates as it is).
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
            Msg::Reset => {
                let was = std::mem::take(&mut self.0.count);
                return Reply::Cleared { was };
            }
            Msg::Double => self.0.count *= 2,
        }
        Reply::Count { count: self.0.count, release: 3 }
    }
}

relive_sdk::export_module!(Grow);
