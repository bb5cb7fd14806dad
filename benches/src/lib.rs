//! Shared helpers of the bench binaries: timing, medians and the output
//! format every figure uses, `<system> <figure>: <value> <unit>`.

use std::time::Instant;

/// Run `f` `reps` times and return the median of what it returns.
pub fn median(reps: usize, mut f: impl FnMut() -> f64) -> f64 {
    let mut v: Vec<f64> = (0..reps).map(|_| f()).collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
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
