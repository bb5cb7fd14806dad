//! issue 20: `relive status` and `relive history` read well at 1,000 actors.
//!
//! One in-process host (its admin socket served to the real `relive`
//! binary): 1,000 counters, three of them under a supervisor, in the middle
//! of a gradual upgrade (100 canaries on 2.0.0, 900 on 1.0.0); one canary
//! blocked in a slow handler; a refused load and a build marked bad in the
//! history.

use counter_api::{CounterMsg, CounterReply};
use relive_runtime::host::{Canary, UpgradeMode, UpgradeOptions};
use relive_runtime::{ActorRef, Host};
use relive_supervisor::{Child, ChildSpec, ChildStart, Flags, Supervisor};
use relive_test_support::fixtures;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const ACTORS: usize = 1000;
const SUPERVISED: usize = 3;
const CANARIES: usize = 100;
/// How long the slow canary stays in its handler.
const SLOW_MS: u64 = 20_000;

fn relive(socket: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_relive"))
        .arg("--host")
        .arg(socket)
        .args(args)
        // A fixed zone with a half-hour offset, from no time-zone database:
        // local times must show it.
        .env("TZ", "<+0530>-5:30")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn ok(socket: &Path, args: &[&str]) -> String {
    let o = relive(socket, args);
    assert!(o.status.success(), "{args:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn json(socket: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&ok(socket, &all)).unwrap()
}

/// The host, set up as the module docs say; the slow canary's id.
struct Scene {
    // Dropped first, while its socket file still exists: its drop wakes
    // its listener by connecting there.
    _admin: relive_runtime::admin::AdminServer,
    host: Host,
    _sup: Supervisor,
    _actors: Vec<ActorRef<CounterMsg, CounterReply>>,
    slow: u64,
    _dir: tempfile::TempDir,
    socket: std::path::PathBuf,
}

fn scene() -> Scene {
    let host = Host::builder().workers(2).build().unwrap();
    let code = host.code_server();
    code.upgrade("counter", fixtures().path("counter_v1")).unwrap();
    let actors: Vec<ActorRef<CounterMsg, CounterReply>> =
        (0..ACTORS - SUPERVISED).map(|_| host.spawn("counter", &0u64).unwrap()).collect();
    let children = (0..SUPERVISED)
        .map(|i| {
            Child::new(
                ChildSpec::worker(format!("counter-{i}"), &["counter"]),
                ChildStart::module("counter", &0u64),
            )
        })
        .collect();
    let sup = Supervisor::start(&host, Flags::default(), children).unwrap();
    // A refused load: a library built for another ABI.
    assert!(code.upgrade("counter", fixtures().path("wrong_abi")).is_err());
    // A gradual upgrade in progress: the first 100 actors (by id) go first.
    let opts = UpgradeOptions::new().mode(UpgradeMode::Gradual(Canary::Count(CANARIES)));
    let report = code.upgrade_with("counter", fixtures().path("counter_v2"), opts).unwrap();
    assert_eq!((report.migrated, report.remaining), (CANARIES, ACTORS - CANARIES));
    // v2 turns out bad.
    code.mark_bad("counter", code.current("counter").unwrap().hash()).unwrap();
    // A canary (the lowest id: it went first) blocked in a slow handler.
    let slow = actors[0].clone();
    slow.cast(CounterMsg::Sleep(SLOW_MS)).unwrap();
    let dir = fixtures().scratch();
    let socket = dir.path().join("admin.sock");
    let admin = host.serve_admin(&socket).unwrap();
    let slow_id = slow.id().get();
    Scene { host, _sup: sup, _actors: actors, slow: slow_id, _dir: dir, socket, _admin: admin }
}

/// The rows of the actor table (after its header, before the "more" line).
fn actor_rows(out: &str) -> Vec<&str> {
    out.lines()
        .skip_while(|l| !l.starts_with("  id "))
        .skip(1)
        .take_while(|l| l.starts_with("  <"))
        .collect()
}

#[test]
fn status_at_1000_actors_is_a_bounded_summary_with_counts_per_version() {
    let s = scene();
    let out = ok(&s.socket, &["status"]);
    assert!(out.lines().count() < 40, "{} lines:\n{out}", out.lines().count());
    assert!(out.contains(&format!("host: 2 workers, {} actors", s.host.actor_count())), "{out}");
    assert!(out.contains("current: 2.0.0 (100 actors, build "), "{out}");
    assert!(out.contains("old:     1.0.0 (900 actors, build "), "{out}");
    assert!(out.contains("gradual upgrade in progress: 100 canaries moved first"), "{out}");
    assert!(out.contains("OneForOne: 3 children, 3 running, 0 restarts"), "{out}");
    assert!(actor_rows(&out).is_empty(), "no actor listed without --actors:\n{out}");
    assert!(out.contains("list them with --actors"), "{out}");
}

#[test]
fn status_lists_actors_only_when_asked_and_bounded() {
    let s = scene();
    let total = s.host.actor_count();
    let out = ok(&s.socket, &["status", "--actors", "--limit", "10"]);
    assert_eq!(actor_rows(&out).len(), 10, "{out}");
    assert!(out.contains(&format!("… and {} more", total - 10)), "{out}");
    // --actors alone: the default limit.
    let out = ok(&s.socket, &["status", "--actors"]);
    assert_eq!(actor_rows(&out).len(), 50, "{out}");
    // --module: only that module's actors (no native supervisor row).
    let out = ok(&s.socket, &["status", "--module", "counter", "--limit", "2000"]);
    assert_eq!(actor_rows(&out).len(), ACTORS, "{out}");
    assert!(!out.contains("(native)"), "{out}");
    assert!(out.contains(&format!("actors of counter: {ACTORS}")), "{out}");
    let out = ok(&s.socket, &["status", "--module", "billing"]);
    assert!(out.contains("no module `billing` is loaded"), "{out}");
    assert!(out.contains("actors of billing: 0"), "{out}");
    // Supervised actors say whose child they are.
    let out = ok(&s.socket, &["status", "--actors", "--limit", "2000"]);
    assert!(out.contains("(counter-2 of <"), "{out}");
}

#[test]
fn status_json_is_complete_unless_limited() {
    let s = scene();
    let v = json(&s.socket, &["status"]);
    let actors = v["Status"]["actors"].as_array().unwrap();
    assert_eq!(actors.len(), s.host.actor_count());
    let on = |ver: &str| actors.iter().filter(|a| a["version"] == ver).count();
    assert_eq!((on("2.0.0"), on("1.0.0")), (CANARIES, ACTORS - CANARIES));
    let m = &v["Status"]["modules"][0];
    assert_eq!(
        (m["current"]["actors"].as_u64(), m["old"]["actors"].as_u64()),
        (Some(100), Some(900))
    );
    assert_eq!(m["canaries"], 100);
    // An explicit --limit bounds the list and says how many matched.
    let v = json(&s.socket, &["status", "--module", "counter", "--limit", "5"]);
    assert_eq!(v["Status"]["actors"].as_array().unwrap().len(), 5);
    assert_eq!(v["Status"]["actors_matched"], ACTORS);
}

#[test]
fn an_actor_mid_turn_shows_its_version() {
    let s = scene();
    // Wait until the slow canary is inside its handler.
    let deadline = Instant::now() + Duration::from_secs(10);
    let row = loop {
        let v = json(&s.socket, &["status"]);
        let a = v["Status"]["actors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == s.slow)
            .cloned()
            .unwrap();
        if a["state"] == "running" {
            break a;
        }
        assert!(Instant::now() < deadline, "the slow handler never ran: {a}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(row["version"], "2.0.0", "{row}");
    let started = Instant::now();
    let out = ok(&s.socket, &["status", "--module", "counter", "--limit", "3"]);
    assert!(
        started.elapsed() < Duration::from_millis(SLOW_MS / 2),
        "status waited for the handler"
    );
    let line = out.lines().find(|l| l.trim_start().starts_with(&format!("<{}>", s.slow))).unwrap();
    assert!(line.contains("2.0.0") && line.contains("running"), "{line}");
}

#[test]
fn history_says_what_a_refused_load_and_a_mark_bad_were_in_local_time() {
    let s = scene();
    let out = ok(&s.socket, &["history"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("time") && lines[0].contains("file"), "{out}");
    // The refused load: its file and its reason on the next line.
    let wrong_abi = fixtures().path("wrong_abi").display().to_string();
    let i = lines.iter().position(|l| l.contains("upgrade REFUSED")).expect(&out);
    assert!(lines[i].contains(&wrong_abi), "{out}");
    assert!(
        lines[i + 1].trim_start().starts_with("reason: ") && lines[i + 1].contains("ABI"),
        "{out}"
    );
    // The mark: which version, which build, which file.
    let v2 = code_hash(&s);
    let marked = lines.iter().find(|l| l.contains("mark-bad")).expect(&out);
    assert!(marked.contains("2.0.0") && marked.contains(&v2[..16]), "{marked}");
    assert!(marked.contains(&fixtures().path("counter_v2").display().to_string()), "{marked}");
    // Local time: the zone's +05:30, and the clock time it gives.
    let h = json(&s.socket, &["history"]);
    let at = h["History"]["entries"][0]["at"].as_u64().unwrap();
    let local = (at + 5 * 3600 + 1800) % 86_400;
    let clock = format!("{:02}:{:02}:{:02} +05:30", local / 3600, local / 60 % 60, local % 60);
    assert!(lines[1].contains(&clock), "expected {clock}: {out}");
    assert_eq!(
        h["History"]["entries"][0]["source"],
        fixtures().path("counter_v1").display().to_string()
    );
}

fn code_hash(s: &Scene) -> String {
    s.host.code_server().current("counter").unwrap().hash().to_string()
}

// Long operations keep their progress bars: an atomic upgrade of 1,000
// actors, one of them in a handler for half a second, run from a terminal
// (a pseudo-terminal from util-linux's `script`), draws the bar on stderr
// while the host reports progress, then prints its report.
#[test]
fn an_upgrade_of_1000_actors_draws_its_progress_bar_on_a_terminal() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("no `script` (util-linux) here: cannot run the CLI on a terminal");
        return;
    }
    let host = Host::builder().workers(2).build().unwrap();
    let code = host.code_server();
    code.upgrade("counter", fixtures().path("counter_v1")).unwrap();
    let actors: Vec<ActorRef<CounterMsg, CounterReply>> =
        (0..ACTORS).map(|_| host.spawn("counter", &0u64).unwrap()).collect();
    actors[ACTORS - 1].cast(CounterMsg::Sleep(500)).unwrap();
    let dir = fixtures().scratch();
    let socket = dir.path().join("admin.sock");
    let admin = host.serve_admin(&socket).unwrap();
    let line = format!(
        "{} --host {} upgrade counter {}",
        env!("CARGO_BIN_EXE_relive"),
        socket.display(),
        fixtures().path("counter_v2").display()
    );
    let o = Command::new("script").args(["-qec", &line, "/dev/null"]).output().unwrap();
    let screen = text(&o);
    assert!(o.status.success(), "{screen}");
    assert!(screen.contains("migrating") && screen.contains("/1000 actors"), "no bar: {screen}");
    assert!(screen.contains("now 2.0.0 — 1000 actor(s) migrated"), "{screen}");
    assert_eq!(code.current("counter").unwrap().version().to_string(), "2.0.0");
    drop(admin);
}
