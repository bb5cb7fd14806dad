//! The `port_user` module 2.0.0: the code of `port_user` (1.0.0) built as a
//! second version; every reply it handles is recorded as handled by 2.0.0
//! (test fixture).

#[path = "../../port_user/src/module.rs"]
mod module;

pub use module::PortUser;

relive_sdk::export_module!(PortUser);
