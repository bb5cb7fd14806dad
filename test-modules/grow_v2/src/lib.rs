//! The `grow` module, release 2: appends `Reset` (and the reply `Cleared`)
//! to release 1's interface (test fixture).

use grow_api::{
    GrowState,
    v2::{Msg, Reply},
};
use relive_sdk::{Context, Module, ModuleError};

/// The module (the same state as release 1: it migrates as it is).
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
        }
        Reply::Count { count: self.0.count, release: 2 }
    }
}

relive_sdk::export_module!(Grow);
