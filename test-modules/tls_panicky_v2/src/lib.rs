//! The `tls` module 2.0.0: the code of `tls_panicky` (1.0.0), built as a
//! second version, so that tests and soaks alternate between two builds
//! without forcing (test fixture).

#[path = "../../tls_panicky/src/module.rs"]
mod module;

pub use module::Tls;

relive_sdk::export_module!(Tls);
