//! A library whose relive symbol returns something that is not a relive
//! declaration (test fixture).

counter_api::v1_counter_module!(name = "counter", logic = 9);

use relive_sdk::BuildInfo;
use relive_sdk::abi::{ModuleDecl, VTable};

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
