//! `export_module!` writes a module record that `record::read` finds in the
//! linked file, read as bytes: this test binary itself exports a module.

use postcard_schema::Schema;
use relive_sdk::record::{self, ModuleRecord};
use relive_sdk::{Context, Module, ModuleError};
use serde::{Deserialize, Serialize};

/// A module that does nothing.
#[derive(Debug, Serialize, Deserialize, Schema)]
pub struct Recorded;

impl Module for Recorded {
    const NAME: &'static str = "recorded";
    type Args = ();
    type Msg = ();
    type Reply = ();

    fn init(_: (), _: &mut Context<'_>) -> Result<Self, ModuleError> {
        Ok(Recorded)
    }

    fn handle(&mut self, _: (), _: &mut Context<'_>) {}
}

relive_sdk::export_module!(Recorded, version = "3.1.4");

#[test]
fn the_linked_file_holds_the_record_export_module_wrote() {
    let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    assert_eq!(
        record::read(&exe),
        Ok(ModuleRecord { name: "recorded".into(), version: "3.1.4".into() })
    );
    // The declaration agrees.
    assert_eq!(relive_declaration().magic, relive_sdk::abi::MAGIC);
}
