//! `compare`: relive beside its peers, every scenario in one run.
//!
//! Runs each system's side of each scenario in its own process —
//! `relive-bench` (relive), `peer` (ractor, kameo, actix, a raw crossbeam
//! channel) and, when `erl` is present, `benches/erlang` (Erlang/OTP) —
//! interleaved: every repetition runs every scenario on every system, the
//! order of the systems rotating from one repetition to the next, so that
//! a slow minute of the machine falls on all of them. Then it prints the
//! median of each figure, `<system> <figure>: <median> <unit>`, and
//! `ratio <figure> relive/<system>: <x>` for every peer that has the
//! figure, and writes the medians as an SVG bar chart.
//!
//! Usage (`benches/run.sh` builds everything first and passes these):
//! `compare [--reps N] [--svg PATH] [--erlang EBIN_DIR] [SCENARIO...]`

use relive_benches::{machine, median};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The scenarios, in the order they run and are drawn, and who runs them.
const SCENARIOS: &[(&str, &[&str])] = &[
    ("cast", &["relive", "crossbeam", "ractor", "kameo", "actix", "otp"]),
    ("call", &["relive", "crossbeam", "ractor", "kameo", "actix", "otp"]),
    // issue 19: the shapes published actor benchmarks use.
    ("fanout", &["relive", "crossbeam", "ractor", "kameo", "actix", "otp"]),
    ("pingpong", &["relive", "ractor", "kameo", "actix", "otp"]),
    ("spawn", &["relive", "ractor", "kameo", "actix", "otp"]),
    ("upgrade_1k", &["relive", "otp"]),
    ("upgrade_10k", &["relive", "otp"]),
    ("upgrade_100k", &["relive", "otp"]),
    ("restart", &["relive", "otp"]),
];

/// How long one process may run before it is killed and its round skipped.
const TIMEOUT: Duration = Duration::from_secs(300);

/// Bar colours, one per system, in the order systems are drawn.
const COLOURS: &[(&str, &str)] = &[
    ("relive", "#d94801"),
    ("crossbeam", "#969696"),
    ("ractor", "#2171b5"),
    ("kameo", "#6baed6"),
    ("actix", "#41ab5d"),
    ("otp", "#a50f15"),
];

struct Options {
    reps: usize,
    svg: Option<PathBuf>,
    erlang: Option<PathBuf>,
    only: Vec<String>,
}

fn options() -> Options {
    let mut o = Options { reps: 5, svg: None, erlang: None, only: Vec::new() };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage(&format!("{a} needs a value")));
        match a.as_str() {
            "--reps" => o.reps = value().parse().unwrap_or_else(|_| usage("--reps takes a number")),
            "--svg" => o.svg = Some(value().into()),
            "--erlang" => o.erlang = Some(value().into()),
            s if SCENARIOS.iter().any(|(n, _)| *n == s) => o.only.push(a),
            _ => usage(&format!("unknown argument {a}")),
        }
    }
    o
}

fn usage(why: &str) -> ! {
    eprintln!("compare: {why}");
    eprintln!("usage: compare [--reps N] [--svg PATH] [--erlang EBIN_DIR] [SCENARIO...]");
    std::process::exit(2)
}

/// The command that runs `scenario` on `system`, or `None` if this machine
/// cannot run that system.
fn command(system: &str, scenario: &str, bin_dir: &Path, erlang: Option<&Path>) -> Option<Command> {
    let mut c = match system {
        "relive" => Command::new(bin_dir.join("relive-bench")),
        "otp" => {
            let mut c = Command::new("erl");
            c.args(["-noshell", "-pa"]).arg(erlang?).args(["-run", "bench", "main"]);
            c
        }
        peer => {
            let mut c = Command::new(bin_dir.join("peer"));
            c.arg(peer);
            c
        }
    };
    c.arg(scenario).env("RUST_BACKTRACE", "0");
    Some(c)
}

/// Runs one process and returns its `<system> <figure>: <value> <unit>`
/// lines as (figure, value, unit).
fn run(mut cmd: Command) -> Result<Vec<(String, f64, String)>, String> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
    let started = Instant::now();
    while child.try_wait().map_err(|e| e.to_string())?.is_none() {
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            return Err(format!("timed out after {TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        return Err(format!(
            "{}: {}",
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        ));
    }
    Ok(stdout.lines().filter_map(parse).collect())
}

/// `<system> <figure>: <value> <unit>` → (figure, value, unit).
fn parse(line: &str) -> Option<(String, f64, String)> {
    let (head, tail) = line.split_once(": ")?;
    let (_system, figure) = head.split_once(' ')?;
    let (value, unit) = tail.split_once(' ')?;
    Some((figure.to_owned(), value.parse().ok()?, unit.to_owned()))
}

/// A figure's medians: its name, its unit and (system, median) per system.
type Medians = (String, String, Vec<(String, f64)>);

/// What one figure measured: its unit and each system's samples.
#[derive(Default)]
struct Figure {
    unit: String,
    samples: BTreeMap<String, Vec<f64>>,
}

fn main() {
    let o = options();
    let bin_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .expect("the directory of this executable");
    let erlang = o.erlang.as_deref().filter(|d| d.join("bench.beam").exists());
    let scenarios: Vec<(&str, &[&str])> = SCENARIOS
        .iter()
        .filter(|(n, _)| o.only.is_empty() || o.only.iter().any(|s| s == n))
        .copied()
        .collect();
    println!("machine: {}", machine());
    println!(
        "note: ractor and kameo run on a multi-thread tokio runtime with 2 worker threads \
         (this machine's cores); actix runs its actor on its own arbiter thread; relive's \
         host has 2 workers; Erlang/OTP runs with one scheduler per core"
    );
    if erlang.is_none() {
        println!("note: Erlang/OTP skipped (no `erl`, or no compiled benches/erlang)");
    }
    println!("repetitions: {}, each system in its own process, interleaved", o.reps);

    // Figures in the order they are first seen.
    let mut figures: Vec<(String, Figure)> = Vec::new();
    for rep in 0..o.reps {
        for (scenario, systems) in &scenarios {
            let n = systems.len();
            for i in 0..n {
                let system = systems[(i + rep) % n];
                let Some(cmd) = command(system, scenario, &bin_dir, erlang) else { continue };
                match run(cmd) {
                    Ok(lines) => {
                        for (name, value, unit) in lines {
                            eprintln!(
                                "  [{}/{}] {system} {name}: {value:.2} {unit}",
                                rep + 1,
                                o.reps
                            );
                            let at = match figures.iter().position(|(f, _)| *f == name) {
                                Some(at) => at,
                                None => {
                                    figures.push((name, Figure { unit, ..Figure::default() }));
                                    figures.len() - 1
                                }
                            };
                            figures[at].1.samples.entry(system.to_owned()).or_default().push(value);
                        }
                    }
                    Err(e) => {
                        eprintln!("  [{}/{}] {system} {scenario}: FAILED {e}", rep + 1, o.reps)
                    }
                }
            }
        }
    }

    let medians: Vec<Medians> = figures
        .iter()
        .map(|(name, f)| {
            let order = COLOURS.iter().map(|(s, _)| *s);
            let values =
                order.filter_map(|s| f.samples.get(s).map(|v| (s.to_owned(), median(v)))).collect();
            (name.clone(), f.unit.clone(), values)
        })
        .collect();
    for (name, unit, values) in &medians {
        for (system, v) in values {
            println!("{system} {name}: {v:.2} {unit}");
        }
    }
    for (name, _, values) in &medians {
        let Some(relive) = values.iter().find(|(s, _)| s == "relive").map(|(_, v)| *v) else {
            continue;
        };
        for (system, v) in values.iter().filter(|(s, _)| s != "relive") {
            println!("ratio {name} relive/{system}: {:.2}", relive / v);
        }
    }
    if let Some(path) = o.svg {
        std::fs::write(&path, svg(&medians)).expect("write the SVG");
        println!("plot: {}", path.display());
    }
}

/// Whether more is better for a figure of this unit.
fn higher_is_better(unit: &str) -> bool {
    unit.ends_with("/s")
}

/// One panel per figure that more than one system has, one bar per system,
/// each labelled with its value.
fn svg(medians: &[Medians]) -> String {
    let medians: Vec<_> = medians.iter().filter(|(_, _, v)| v.len() > 1).collect();
    const W: f64 = 330.0;
    const H: f64 = 210.0;
    const COLS: usize = 3;
    let rows = medians.len().div_ceil(COLS);
    let (width, height) = (W * COLS as f64 + 20.0, H * rows as f64 + 80.0);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="10" y="20" font-size="14" font-weight="bold">relive and its peers, medians of one run of benches/run.sh</text>"#
    );
    let mut x = 10.0;
    for (system, colour) in COLOURS {
        let _ = writeln!(
            s,
            r#"<rect x="{x}" y="32" width="12" height="12" fill="{colour}"/><text x="{}" y="42">{system}</text>"#,
            x + 16.0
        );
        x += 90.0;
    }
    for (i, (name, unit, values)) in medians.iter().enumerate() {
        let (px, py) = (10.0 + W * (i % COLS) as f64, 60.0 + H * (i / COLS) as f64);
        let better = if higher_is_better(unit) { "higher is better" } else { "lower is better" };
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{}" font-weight="bold">{name}</text><text x="{}" y="{}" fill="#555">{unit}, {better}</text>"##,
            px + 5.0,
            py + 14.0,
            px + 5.0,
            py + 28.0
        );
        let max = values.iter().map(|(_, v)| *v).fold(0.0, f64::max).max(f64::MIN_POSITIVE);
        let (top, bottom) = (py + 44.0, py + H - 30.0);
        let bar_w = ((W - 30.0) / values.len().max(1) as f64).min(48.0);
        for (j, (system, v)) in values.iter().enumerate() {
            let colour = COLOURS.iter().find(|(s, _)| s == system).map_or("#000", |(_, c)| c);
            let h = (bottom - top) * v / max;
            let bx = px + 10.0 + j as f64 * (bar_w + 4.0);
            let _ = writeln!(
                s,
                r#"<rect x="{bx:.1}" y="{:.1}" width="{bar_w:.1}" height="{h:.1}" fill="{colour}"><title>{system}: {v:.2} {unit}</title></rect>"#,
                bottom - h
            );
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="9">{}</text><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="9">{system}</text>"#,
                bx + bar_w / 2.0,
                bottom - h - 3.0,
                short(*v),
                bx + bar_w / 2.0,
                bottom + 12.0
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

/// 1234567 → "1.23M", 0.6312 → "0.63".
fn short(v: f64) -> String {
    match v {
        v if v >= 1e6 => format!("{:.2}M", v / 1e6),
        v if v >= 1e4 => format!("{:.0}k", v / 1e3),
        v if v >= 100.0 => format!("{v:.0}"),
        v => format!("{v:.2}"),
    }
}
