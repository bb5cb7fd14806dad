//! Shared helpers of the bench binaries: timing, medians and the output
//! format every figure uses, `<system> <figure>: <value> <unit>`.

use std::time::Instant;

/// The median of `samples` (the upper one of an even count).
///
/// # Panics
/// When `samples` is empty.
pub fn median(samples: &[f64]) -> f64 {
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The CPU time this thread has had so far, in milliseconds (user and
/// kernel, from `/proc/thread-self/schedstat`): what a single-threaded step
/// costs however loaded the machine is, where a wall clock also counts the
/// time other processes had the core.
///
/// # Panics
/// When the file cannot be read (not Linux, or no schedstat).
pub fn thread_cpu_ms() -> f64 {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").expect("schedstat");
    let ns: u64 = text.split_whitespace().next().and_then(|n| n.parse().ok()).expect("run time");
    ns as f64 / 1e6
}

/// Nanoseconds per iteration of `f`, over `iters` iterations.
pub fn ns_per_iter(iters: u64, mut f: impl FnMut(u64)) -> f64 {
    let start = Instant::now();
    for i in 0..iters {
        f(i);
    }
    start.elapsed().as_nanos() as f64 / iters as f64
}

/// Print one figure in the format the checks read.
pub fn figure(system: &str, name: &str, value: f64, unit: &str) {
    println!("{system} {name}: {value:.2} {unit}");
}

/// Print a one-line description of the machine (cores, CPU model, rustc).
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores, {cpu}")
}

pub use relive_test_support::rss_bytes;

/// A host with the release-built counter v1 loaded (and v2's path).
pub fn counter_host() -> (relive_runtime::Host, std::path::PathBuf) {
    let v1 = relive_test_support::build_library("counter_v1", true);
    let v2 = relive_test_support::build_library("counter_v2", true);
    let host = relive_runtime::Host::new().expect("host");
    host.code_server().upgrade("counter", &v1).expect("load counter v1");
    (host, v2)
}

/// Drive every future to completion on this thread and return their
/// outputs in order: a minimal executor that, like any real one, polls a
/// future again only after its waker fired (each future's waker records its
/// index and unparks this thread).
pub fn block_on_all<F: std::future::Future + Unpin>(mut futures: Vec<F>) -> Vec<F::Output> {
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll, Wake, Waker};
    struct Woken {
        index: usize,
        ready: Arc<Mutex<Vec<usize>>>,
        thread: std::thread::Thread,
    }
    impl Wake for Woken {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.ready.lock().expect("ready list").push(self.index);
            self.thread.unpark();
        }
    }
    let ready = Arc::new(Mutex::new((0..futures.len()).rev().collect::<Vec<usize>>()));
    let wakers: Vec<Waker> = (0..futures.len())
        .map(|index| {
            let thread = std::thread::current();
            Waker::from(Arc::new(Woken { index, ready: Arc::clone(&ready), thread }))
        })
        .collect();
    let mut out: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    let mut left = futures.len();
    while left > 0 {
        let batch = std::mem::take(&mut *ready.lock().expect("ready list"));
        if batch.is_empty() {
            std::thread::park();
            continue;
        }
        for i in batch {
            if out[i].is_some() {
                continue;
            }
            let mut cx = Context::from_waker(&wakers[i]);
            if let Poll::Ready(v) = std::pin::Pin::new(&mut futures[i]).poll(&mut cx) {
                out[i] = Some(v);
                left -= 1;
            }
        }
    }
    out.into_iter().map(|v| v.expect("all ready")).collect()
}
