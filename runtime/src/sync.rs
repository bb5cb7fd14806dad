//! The concurrency primitives the actor core uses, in one place, so that a
//! model checker can be swapped in (`cfg(loom)`) without touching the core.

pub(crate) use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
