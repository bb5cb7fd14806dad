//! Loom models of the [`Snapshot`] read protocol, on the real structure:
//! `cargo test` with `RUSTFLAGS="--cfg relive_loom"` (docs/testing.md).
//!
//! Each modelled thread reads through its own cell (`read_at` with its own
//! index, as `read` does with the thread's index). A value records its drop
//! in a loom cell, and every read checks it was not dropped: loom reports a
//! read racing the drop (no happens-before either way) as a causality
//! violation, and a read after it fails the assertion. The models keep a
//! `Weak` to every value, so a dropped value's memory stays allocated and
//! a faulty protocol fails the model instead of reading freed memory.

use super::Snapshot;
use loom::cell::UnsafeCell;
use loom::thread;
use std::sync::{Arc, Weak};

/// A stored value: its version, and whether it was dropped.
struct Value {
    version: u32,
    dropped: UnsafeCell<bool>,
}

impl Value {
    fn new(version: u32) -> Arc<Value> {
        Arc::new(Value { version, dropped: UnsafeCell::new(false) })
    }

    /// What a call does with the version serving it: reads it, twice (the
    /// call's start and its end), and finds it alive both times.
    fn use_it(&self) -> u32 {
        let alive = |v: &Value| v.dropped.with(|d| !unsafe_read(d));
        assert!(alive(self), "read a dropped value");
        thread::yield_now();
        assert!(alive(self), "the value was dropped during the read");
        self.version
    }
}

/// `*d`, for the loom cell's pointer (valid: loom hands it out only for the
/// access it tracks).
fn unsafe_read(d: *const bool) -> bool {
    // SAFETY: `UnsafeCell::with` passes a pointer valid for this read.
    unsafe { *d }
}

impl Drop for Value {
    fn drop(&mut self) {
        // SAFETY: `with_mut` passes a pointer valid for this write.
        self.dropped.with_mut(|d| unsafe { *d = true });
    }
}

#[test]
fn loom_a_read_keeps_its_value_across_a_store_and_the_old_value_drops_after() {
    loom::model(|| {
        let v1 = Value::new(1);
        let weak1: Weak<Value> = Arc::downgrade(&v1);
        let snapshot = Arc::new(Snapshot::new(v1));
        let reader = {
            let snapshot = Arc::clone(&snapshot);
            thread::spawn(move || {
                let first = snapshot.read_at(Some(0), Value::use_it);
                let second = snapshot.read_at(Some(0), Value::use_it);
                (first, second)
            })
        };
        let v2 = Value::new(2);
        let weak2 = Arc::downgrade(&v2);
        snapshot.store(v2);
        let (first, second) = reader.join().unwrap();
        // Versions never go back: a read that began after one saw 2 sees 2.
        assert!(first <= second, "{first} then {second}");
        assert_eq!(snapshot.read_at(Some(1), Value::use_it), 2);
        // Nobody reads 1 any more: it was dropped, by the store or by the
        // read that held it.
        assert_eq!(weak1.strong_count(), 0, "the old value stayed after its last read");
        assert_eq!(weak2.strong_count(), 1);
        drop(snapshot);
        assert_eq!(weak2.strong_count(), 0);
    });
}

#[test]
fn loom_two_readers_across_two_stores_never_read_a_dropped_value() {
    loom::model(|| {
        let v1 = Value::new(1);
        let weak1 = Arc::downgrade(&v1);
        let snapshot = Arc::new(Snapshot::new(v1));
        let readers: Vec<_> = (0..2)
            .map(|i| {
                let snapshot = Arc::clone(&snapshot);
                thread::spawn(move || snapshot.read_at(Some(i), Value::use_it))
            })
            .collect();
        let v2 = Value::new(2);
        let weak2 = Arc::downgrade(&v2);
        snapshot.store(v2);
        snapshot.store(Value::new(3));
        for r in readers {
            let version = r.join().unwrap();
            assert!((1..=3).contains(&version));
        }
        assert_eq!(weak1.strong_count(), 0, "version 1 stayed");
        assert_eq!(weak2.strong_count(), 0, "version 2 stayed");
        assert_eq!(snapshot.read_at(Some(0), Value::use_it), 3);
    });
}

#[test]
fn loom_a_nested_read_and_a_thread_without_a_cell_keep_their_values_too() {
    loom::model(|| {
        let v1 = Value::new(1);
        let weak1 = Arc::downgrade(&v1);
        let snapshot = Arc::new(Snapshot::new(v1));
        let nested = {
            let snapshot = Arc::clone(&snapshot);
            thread::spawn(move || {
                snapshot.read_at(Some(0), |outer| {
                    let inner = snapshot.read_at(Some(0), Value::use_it);
                    (outer.use_it(), inner)
                })
            })
        };
        let shared = {
            let snapshot = Arc::clone(&snapshot);
            thread::spawn(move || snapshot.read_at(None, Value::use_it))
        };
        snapshot.store(Value::new(2));
        let (outer, inner) = nested.join().unwrap();
        assert!(outer <= inner);
        assert!((1..=2).contains(&shared.join().unwrap()));
        assert_eq!(weak1.strong_count(), 0, "version 1 stayed");
    });
}
