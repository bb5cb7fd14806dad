//! The concurrency primitives the actor core uses, in one place: `std`'s
//! normally, loom's when the loom models run (`--cfg relive_loom`, tests
//! only).

#[cfg(not(all(test, relive_loom)))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

#[cfg(all(test, relive_loom))]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
