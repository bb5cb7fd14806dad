// `dep_caller`, shared by both versions; `REQUIREMENT` is each one's
// requirement on `dep_callee`.

include!("../../dep_callee_v1/src/callee_api.rs");

use relive_sdk::{Context, Dependency, Module, ModuleError, dep};

/// The caller's state.
#[derive(Debug, serde::Serialize, serde::Deserialize, postcard_schema::Schema)]
pub struct Caller;

impl Module for Caller {
    const NAME: &'static str = "dep_caller";
    type Args = ();
    type Msg = u32;
    type Reply = bool;
    const DEPENDS: &'static [Dependency] = &[dep!("dep_callee", REQUIREMENT, CalleeMsg, u32)];

    fn init((): (), _: &mut Context<'_>) -> Result<Self, ModuleError> {
        Ok(Caller)
    }

    /// Cast `Ping(n)` to the actor registered as `dep_callee`.
    fn handle(&mut self, n: u32, ctx: &mut Context<'_>) -> bool {
        ctx.send_named("dep_callee", &CalleeMsg::Ping(n)).is_ok()
    }
}

relive_sdk::export_module!(Caller);
