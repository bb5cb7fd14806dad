//! `lifecycle` 1.0.0: records what `on_load` saw, logs `on_free` (test fixture).

include!("lifecycle.rs");

fn policy(_: &LoadInfo<'_>) -> Result<(), ModuleError> {
    Ok(())
}

relive_sdk::export_module!(Lifecycle);
