// `dep_callee`, shared by both versions.

include!("callee_api.rs");

use relive_sdk::{Context, Module, ModuleError};

/// The callee's state.
#[derive(Debug, serde::Serialize, serde::Deserialize, postcard_schema::Schema)]
pub struct Callee;

impl Module for Callee {
    const NAME: &'static str = "dep_callee";
    type Args = ();
    type Msg = CalleeMsg;
    type Reply = u32;

    fn init((): (), _: &mut Context<'_>) -> Result<Self, ModuleError> {
        Ok(Callee)
    }

    fn handle(&mut self, msg: CalleeMsg, _: &mut Context<'_>) -> u32 {
        let CalleeMsg::Ping(n) = msg;
        n + 1000 * MAJOR
    }
}

relive_sdk::export_module!(Callee);
