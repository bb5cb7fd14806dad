//! `lifecycle` 3.0.0, whose `on_load` refuses: it vetoes an upgrade with a
//! reason, and panics on a first load (test fixture).

include!("../../lifecycle_v1/src/lifecycle.rs");

fn policy(info: &LoadInfo<'_>) -> Result<(), ModuleError> {
    match info.previous() {
        Some(previous) => Err(ModuleError::new(format!("not over {previous}: drain it first"))),
        None => panic!("on_load of a first load panics"),
    }
}

relive_sdk::export_module!(Lifecycle);
