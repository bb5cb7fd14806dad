//! `lifecycle` 2.0.0: the same code as 1.0.0, a newer version (test fixture).

include!("../../lifecycle_v1/src/lifecycle.rs");

fn policy(_: &LoadInfo<'_>) -> Result<(), ModuleError> {
    Ok(())
}

relive_sdk::export_module!(Lifecycle);
