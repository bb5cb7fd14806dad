//! The `tls` module 1.0.0, whose handler does on demand what can keep a
//! module's library mapped after it is closed, or leave a part of it behind:
//! thread-locals with destructors, `std::thread::current()`, a thread of its
//! own, a SIGUSR2 handler, and a panic (test fixture). See `tls-api`.

mod module;

pub use module::Tls;

relive_sdk::export_module!(Tls);
