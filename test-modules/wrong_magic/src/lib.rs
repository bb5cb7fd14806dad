//! A library whose relive symbol returns something that is not a relive
//! declaration (test fixture).
use counter_api::{CounterMsg, CounterReply};
use postcard_schema::Schema;
use relive_sdk::{Context, Module, ModuleError};
use serde::{Deserialize, Serialize};

use relive_sdk::BuildInfo;
use relive_sdk::abi::{ModuleDecl, VTable};

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
        counter_api::v1_handle(&mut self.count, msg, 9)
    }
}

static VTABLE: VTable = VTable::new::<Counter>();
static DECL: ModuleDecl = ModuleDecl {
    magic: 0x0bad_0bad_0bad_0bad,
    ..ModuleDecl::new::<Counter>(
        &VTABLE,
        BuildInfo { version: env!("CARGO_PKG_VERSION"), build_id: "", panic_unwind: true },
    )
};

/// The relive symbol, returning a declaration no relive host accepts.
#[unsafe(no_mangle)]
pub extern "C" fn relive_module_v1() -> *const ModuleDecl {
    &DECL
}
