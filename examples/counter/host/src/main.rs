//! The counter demo: a live upgrade under traffic, end to end.
//!
//! Builds both module versions with cargo, starts counter actors on v1,
//! sends traffic from several threads, upgrades every actor to v2 live (an
//! atomic upgrade: each pauses at a message boundary, v2's `code_change`
//! migrates its state), shows that v2's logic answers and that no count was
//! lost, rolls back to v1 through `downgrade`; then upgrades to a v3 that
//! crash-loops on some messages and lets the counters' supervisor roll it
//! back automatically. Along the way it shows an interface that grows: v2
//! adds a `Reset` message (`MsgV2` appends it to release 1's `Msg`), which a
//! caller typed on `MsgV2` gets a typed refusal for from v1, is served by v2,
//! keeps a plain rollback from removing it, and is refused typed again after
//! a forced one — while the traffic typed on `Msg` never notices. It prints
//! one summary line computed from what it measured.
//!
//! Run: `cargo run -p counter-example-host`

use counter_example_api::{Msg, MsgV2, Reply};
use relive::supervisor::{Child, ChildSpec, ChildStart, Flags, Supervisor};
use relive::{ActorRef, CallError, Host};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const COUNTERS: usize = 8;
const SENDERS: usize = 4;

/// What one sender saw.
#[derive(Default)]
struct Seen {
    sent: u64,
    /// Replies whose count was not exactly the expected one (lost state,
    /// lost or reordered messages).
    mismatches: u64,
    from_v2: u64,
}

/// Each sender owns two counters, so it knows exactly what each reply must
/// say: three casts, then a call whose count must be four more than before.
fn send(counters: &[ActorRef<Msg, Reply>], me: usize, stop: &AtomicBool) -> Seen {
    let mine = [2 * me, 2 * me + 1];
    let mut expect = [0u64; 2];
    let mut seen = Seen::default();
    while !stop.load(Ordering::Relaxed) {
        for (k, &i) in mine.iter().enumerate() {
            for _ in 0..3 {
                counters[i].cast(Msg::Add(1)).expect("cast");
            }
            let reply = counters[i].call(Msg::Add(1)).expect("call");
            expect[k] += 4;
            seen.sent += 4;
            if reply.count != expect[k] {
                seen.mismatches += 1;
                expect[k] = reply.count;
            }
            if reply.version == 2 {
                seen.from_v2 += 1;
            }
        }
    }
    seen
}

/// `--serve SOCKET [--module PATH] [--trust-key PUB] [--state DIR]
/// [--named NAME [--tick-ms MS]]`: run a host with four counters on the
/// module at PATH (default: counter v1, built now) under a supervisor, open
/// its admin socket, print `ready`, and serve until killed — a host for the
/// `relive` CLI to drive. With `--named`, a fifth counter registered as NAME
/// outside the supervisor, which a thread casts `Add(1)` to every MS
/// milliseconds with `--tick-ms` (traffic for `relive stats` and `trace`). Its state directory
/// (bad-build marks, history, private copies) is DIR, by default next to
/// the socket (`admin.sock` → `admin.state`), so a build the supervisor
/// rolled back stays refused when the host is started again.
fn serve(args: &[String]) -> ! {
    let arg =
        |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let socket = arg("--serve").expect("--serve SOCKET");
    let module = arg("--module").map(PathBuf::from).unwrap_or_else(|| build("module_v1"));
    let state =
        arg("--state").map_or_else(|| Path::new(&socket).with_extension("state"), PathBuf::from);
    let mut builder = Host::builder().state_dir(state);
    if let Some(key) = arg("--trust-key") {
        let key =
            relive::code_server::loader::read_public_key(Path::new(&key)).expect("public key");
        builder = builder.trust_key(key);
    }
    let host = builder.build().expect("host");
    host.code_server().upgrade("counter", &module).expect("load the counter module");
    let children = (0..4)
        .map(|i| {
            Child::new(
                ChildSpec::worker(format!("counter-{i}"), &["counter"]),
                ChildStart::module("counter", &0u64),
            )
        })
        .collect();
    let _sup = Supervisor::start(&host, Flags::default(), children).expect("supervisor");
    if let Some(name) = arg("--named") {
        let named: ActorRef<Msg, Reply> = host
            .spawn_with("counter", &0u64, relive::SpawnOptions::default().name(name))
            .expect("the named counter");
        if let Some(ms) = arg("--tick-ms").and_then(|m| m.parse().ok()) {
            std::thread::spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_millis(ms));
                    let _ = named.cast(Msg::Add(1));
                }
            });
        }
    }
    let _admin = host.serve_admin(&socket).expect("admin socket");
    println!("ready {socket}");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Build the module crate in `examples/counter/<dir>` with cargo and return
/// its library (issue 20: the public helper `relive build` uses, not a
/// guessed `target/debug/lib….so`).
fn build(dir: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir);
    match relive::build::ModuleCrate::at(&dir).build() {
        Ok(built) => built.path,
        Err(e) => {
            eprintln!("cannot build {}: {e}", dir.display());
            std::process::exit(1);
        }
    }
}

fn main() {
    tracing_subscriber::fmt().with_target(false).with_writer(std::io::stderr).init();
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--serve") {
        serve(&args);
    }
    println!("building counter v1, v2 and v3 …");
    let v1 = build("module_v1");
    let v2 = build("module_v2");
    let v3 = build("module_v3");

    let host = Host::new().expect("host");
    host.code_server().upgrade("counter", &v1).expect("load v1");
    // The counters run under a supervisor (one_for_one, OTP's default
    // intensity, crash-loop probation after upgrades).
    let children = (0..COUNTERS)
        .map(|i| {
            let spec = ChildSpec::worker(format!("counter-{i}"), &["counter"]);
            Child::new(spec, ChildStart::module("counter", &0u64))
        })
        .collect();
    let sup = Supervisor::start(&host, Flags::default(), children).expect("supervisor");
    let counters: Vec<ActorRef<Msg, Reply>> = (0..COUNTERS)
        .map(|i| sup.child(&format!("counter-{i}")).expect("child").typed().expect("types"))
        .collect();
    println!(
        "{COUNTERS} counter actors on v1, {SENDERS} threads sending, {} workers",
        host.workers()
    );
    // One more counter, reached by a caller built against release 2's
    // messages: v1 does not have `Reset` and refuses it, typed, before the
    // module sees it; the variants both know are served.
    let fresh: ActorRef<MsgV2, Reply> = host.spawn("counter", &0u64).expect("spawn");
    let refused_on_v1 = matches!(fresh.call(MsgV2::Reset), Err(CallError::UnknownVariant(_)))
        && fresh.call(MsgV2::Add(5)).is_ok_and(|r| r.version == 1 && r.count == 5);
    println!("v1 refuses Reset from a caller typed on release 2: {refused_on_v1}");

    let stop = AtomicBool::new(false);
    let (seen, up, down, grown) = std::thread::scope(|s| {
        let senders: Vec<_> = (0..SENDERS)
            .map(|t| {
                s.spawn({
                    let (c, st) = (&counters, &stop);
                    move || send(c, t, st)
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        let up = host.code_server().upgrade("counter", &v2).expect("upgrade to v2");
        println!(
            "upgraded {} -> {}: {} actors migrated in {:?}, longest pause {:?}",
            up.modules[0].from.as_ref().unwrap(),
            up.modules[0].to,
            up.migrated,
            up.duration,
            up.longest_pause
        );
        let reset_on_v2 = fresh.call(MsgV2::Reset).is_ok_and(|r| r.version == 2 && r.count == 0);
        println!("v2 takes Reset: {reset_on_v2}");
        std::thread::sleep(Duration::from_millis(300));
        // A caller used `Reset`, which v1 lacks: a plain rollback is refused…
        let refused = host.code_server().rollback("counter");
        let rollback_refused = refused.is_err();
        if let Err(e) = &refused {
            println!("rollback refused: {e}");
        }
        // …and forced, it goes through; `Reset` is refused typed again.
        let down = host.code_server().rollback_with("counter", true).expect("rollback");
        println!(
            "rolled back to v1 (forced): {} actors through downgrade in {:?}",
            down.migrated, down.duration
        );
        let refused_again = matches!(fresh.call(MsgV2::Reset), Err(CallError::UnknownVariant(_)));
        let grown = refused_on_v1 && reset_on_v2 && rollback_refused && refused_again;
        std::thread::sleep(Duration::from_millis(200));
        stop.store(true, Ordering::Relaxed);
        let seen: Vec<Seen> = senders.into_iter().map(|h| h.join().unwrap()).collect();
        (seen, up, down, grown)
    });

    let sent: u64 = seen.iter().map(|s| s.sent).sum();
    let mismatches: u64 = seen.iter().map(|s| s.mismatches).sum();
    let from_v2: u64 = seen.iter().map(|s| s.from_v2).sum();
    let replies: Vec<Reply> = counters.iter().map(|c| c.call(Msg::Get).expect("get")).collect();
    let held: u64 = replies.iter().map(|r| r.count).sum();
    let lost = sent.abs_diff(held);
    let on_v1 = replies.iter().all(|r| r.version == 1);
    println!("sent {sent} messages; counters hold {held}; v2 answered {from_v2} calls");

    // Every counter migrates, the one the release-2 caller uses included.
    let upgraded = up.migrated == COUNTERS + 1 && up.failed.is_empty() && from_v2 > 0;
    let state_kept = mismatches == 0 && lost == 0;
    let rolled_back = down.migrated == COUNTERS + 1 && on_v1;

    // Part two: a bad upgrade. v3 panics on Add(13); counter 0 gets three of
    // them, the supervisor sees a crash loop on a freshly upgraded module and
    // rolls it back to v1, keeping every other counter's state.
    host.code_server().purge("counter").expect("drop v2");
    let before: Vec<u64> = replies.iter().map(|r| r.count).collect();
    let up3 = host.code_server().upgrade("counter", &v3).expect("upgrade to v3");
    println!(
        "upgraded to v3: {} actors migrated; now sending it a message it crashes on",
        up3.migrated
    );
    for _ in 0..3 {
        let _ = counters[0].call(Msg::Add(13));
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while counters[0].call(Msg::Get).is_err() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let rollbacks = sup.rollbacks();
    for r in &rollbacks {
        println!(
            "supervisor rolled {} back {} -> {}: {r}",
            r.rollback.module, r.rollback.from, r.rollback.to
        );
    }
    let now_v1 = host.code_server().current("counter").is_some_and(|v| v.version().major == 1);
    let after: Vec<Reply> = counters.iter().map(|c| c.call(Msg::Get).expect("get")).collect();
    let crash_loop_rolled_back =
        rollbacks.len() == 1 && now_v1 && after.iter().all(|r| r.version == 1);
    // The crashed counter restarted fresh; every other kept its count.
    let state_kept_after_crash_loop =
        after[0].count == 0 && (1..COUNTERS).all(|i| after[i].count == before[i]);

    println!(
        "summary: upgraded={} state_kept={state_kept} rolled_back={rolled_back} \
         reset_added={grown} lost_messages={lost} \
         crash_loop_rolled_back={crash_loop_rolled_back} state_kept={state_kept_after_crash_loop}",
        if upgraded { "v1->v2" } else { "failed" }
    );
    let ok = upgraded
        && state_kept
        && rolled_back
        && grown
        && crash_loop_rolled_back
        && state_kept_after_crash_loop;
    std::process::exit(if ok { 0 } else { 1 });
}
