//! A bad release of the `grow` module: `Reset` inserted before `Get`, so
//! variant 1 changes meaning; the loader must refuse it (test fixture).

use grow_api::{GrowState, bad::Msg, v1::Reply};
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
            Msg::Reset => self.0.count = 0,
            Msg::Get => {}
        }
        Reply::Count { count: self.0.count, release: 99 }
    }
}

relive_sdk::export_module!(Grow);
