//! A real shared library without the `relive_module_v1` symbol (test fixture).

/// Some unrelated export.
#[unsafe(no_mangle)]
pub extern "C" fn not_a_relive_module() -> u32 {
    42
}
