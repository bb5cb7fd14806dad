//! The `port_user` module 1.0.0: it does I/O through the host's ports —
//! requests by name, replies by id in `on_reply`, a call answered after its
//! port did (test fixture).

mod module;

pub use module::PortUser;

relive_sdk::export_module!(PortUser);
