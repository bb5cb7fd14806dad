//! The real `relive` binary against a real running host process (the counter
//! example host in `--serve` mode), as a user would drive it from a shell.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// The libraries and the host binary, built once.
struct Built {
    host: PathBuf,
    v1: PathBuf,
    v2: PathBuf,
}

fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| Built {
        host: relive_test_support::build_binary("counter-example-host"),
        v1: relive_test_support::build_library("counter-example-v1", false),
        v2: relive_test_support::build_library("counter-example-v2", false),
    })
}

/// A host process; killed on drop.
struct HostProcess {
    child: Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_host(extra: &[&str]) -> HostProcess {
    start_host_with(extra, &[])
}

fn start_host_with(extra: &[&str], env: &[(&str, &Path)]) -> HostProcess {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("run").join("admin.sock");
    let mut child = Command::new(&built().host)
        .arg("--serve")
        .arg(&socket)
        .args(extra)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.starts_with("ready"), "host did not start: {line:?}");
    HostProcess { child, socket, _dir: dir }
}

fn relive(host: &HostProcess, args: &[&str]) -> Output {
    relive_at(&host.socket, args)
}

/// `relive --host <socket> <args>`, whatever listens there.
fn relive_at(socket: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_relive"))
        .arg("--host")
        .arg(socket)
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn status_json(host: &HostProcess) -> serde_json::Value {
    let o = relive(host, &["status", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn current_version(host: &HostProcess) -> String {
    status_json(host)["Status"]["modules"][0]["current"]["version"].as_str().unwrap().to_owned()
}

#[test]
fn status_upgrade_rollback_purge_history() {
    let host = start_host(&[]);
    let o = relive(&host, &["status"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("counter") && text(&o).contains("1.0.0"), "{}", text(&o));

    let o = relive(&host, &["upgrade", "counter", built().v2.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("now 2.0.0") && text(&o).contains("4 actor(s) migrated"),
        "{}",
        text(&o)
    );
    let s = status_json(&host);
    assert_eq!(s["Status"]["modules"][0]["old"]["version"], "1.0.0");

    let o = relive(&host, &["rollback", "counter"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(current_version(&host), "1.0.0");
    let o = relive(&host, &["purge", "counter"]);
    assert!(o.status.success() && text(&o).contains("purged 2.0.0"), "{}", text(&o));
    let o = relive(&host, &["which", "counter"]);
    assert!(o.status.success() && text(&o).contains("old:     -"), "{}", text(&o));

    let o = relive(&host, &["history", "--json"]);
    let h: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let actions: Vec<&str> = h["History"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["load", "upgrade", "rollback", "purge"]);

    // A gradual upgrade, then promote.
    let o = relive(
        &host,
        &["upgrade", "counter", built().v2.to_str().unwrap(), "--gradual", "--canary", "50%"],
    );
    assert!(o.status.success() && text(&o).contains("2 still on the old version"), "{}", text(&o));
    let o = relive(&host, &["promote", "counter"]);
    assert!(o.status.success() && text(&o).contains("2 actor(s) migrated"), "{}", text(&o));
}

#[test]
fn bad_upgrades_print_the_loaders_reason_and_change_nothing() {
    let host = start_host(&[]);
    // Not under /tmp: the loader refuses libraries in directories others may write.
    let dir = relive_test_support::scratch_dir();
    let missing = dir.path().join("missing.so");
    let o = relive(&host, &["upgrade", "counter", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("no such file"), "{}", text(&o));

    let notes = dir.path().join("notes.so");
    std::fs::write(&notes, "not a library").unwrap();
    let o = relive(&host, &["upgrade", "counter", notes.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("not a shared library"), "{}", text(&o));

    let o = relive(&host, &["upgrade", "billing", built().v2.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("declares module `counter`, expected `billing`"), "{}", text(&o));

    let o = relive(&host, &["rollback", "counter"]);
    assert_eq!(o.status.code(), Some(1), "nothing to roll back to: {}", text(&o));
    assert_eq!(current_version(&host), "1.0.0", "still serving v1");
}

#[test]
fn a_garbled_request_gets_an_error_answer_and_the_host_keeps_serving() {
    let host = start_host(&[]);
    let stream = std::os::unix::net::UnixStream::connect(&host.socket).unwrap();
    let mut w = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    for garbage in [
        "this is not json\n",
        "{\"version\": 1, \"command\": \"Explode\"}\n",
        "{\"version\": 99, \"command\": \"Status\"}\n",
    ] {
        w.write_all(garbage.as_bytes()).unwrap();
        let mut answer = String::new();
        r.read_line(&mut answer).unwrap();
        assert!(answer.contains("BadRequest"), "{answer}");
    }
    // A truncated request, then the connection closes: the host survives.
    w.write_all(b"{\"version\": 1, \"comm").unwrap();
    drop(w);
    drop(r);
    assert_eq!(current_version(&host), "1.0.0");
}

#[test]
fn a_request_from_another_uid_is_refused() {
    if rustix::process::geteuid().as_raw() != 0 {
        eprintln!("not root: cannot run a client as another user here");
        return;
    }
    let host = start_host(&[]);
    // Open the file-system gates, so that only the peer-credential check
    // stands between another user and the host.
    let dir = host.socket.parent().unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&host.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let o = {
        use std::os::unix::process::CommandExt;
        Command::new(env!("CARGO_BIN_EXE_relive"))
            .arg("--host")
            .arg(&host.socket)
            .arg("status")
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap()
    };
    // The CLI, run as that user, refuses first: the socket's directory is
    // not theirs. It sends nothing.
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("owned by uid 0, not by you (uid 65534)"), "{}", text(&o));
    // A raw client as that user gets the host's own refusal.
    let o = {
        use std::os::unix::process::CommandExt;
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "raw_status_request", "--nocapture", "--test-threads=1"])
            .env("RELIVE_TEST_RAW_STATUS", &host.socket)
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap()
    };
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("only answers its own user"), "{}", text(&o));
}

/// Not a test of its own: with `RELIVE_TEST_RAW_STATUS` naming a socket,
/// send one status request there without the CLI's checks and print the
/// answer (run as another user by `a_request_from_another_uid_is_refused`).
#[test]
fn raw_status_request() {
    let Some(socket) = std::env::var_os("RELIVE_TEST_RAW_STATUS") else { return };
    let stream = std::os::unix::net::UnixStream::connect(socket).unwrap();
    let mut r = BufReader::new(stream.try_clone().unwrap());
    let _ = (&stream).write_all(b"{\"version\": 1, \"command\": \"Status\"}\n");
    let mut answer = String::new();
    r.read_line(&mut answer).unwrap();
    println!("answer: {answer}");
}

/// A listener standing in for a fake host that someone else set up: it
/// counts the connections it gets and the bytes it is sent.
struct FakeHost {
    seen: Arc<(AtomicUsize, AtomicUsize)>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeHost {
    fn listen(socket: &Path) -> Self {
        let listener = std::os::unix::net::UnixListener::bind(socket).unwrap();
        listener.set_nonblocking(true).unwrap();
        let seen = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, halt) = (Arc::clone(&seen), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            while !halt.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        s.0.fetch_add(1, Ordering::SeqCst);
                        stream.set_nonblocking(false).unwrap();
                        stream.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
                        let mut line = Vec::new();
                        let _ = BufReader::new(&stream).read_until(b'\n', &mut line);
                        s.1.fetch_add(line.len(), Ordering::SeqCst);
                        // Hang up: a client that sent something then reads EOF.
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        FakeHost { seen, stop, thread: Some(thread) }
    }

    /// (connections, bytes received) so far, and stop listening.
    fn seen(mut self) -> (usize, usize) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().unwrap().join().unwrap();
        (self.seen.0.load(Ordering::SeqCst), self.seen.1.load(Ordering::SeqCst))
    }
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// `relive status` against `socket`, where a fake host listens.
fn status_against_a_fake_host(socket: &Path) -> (Output, (usize, usize)) {
    let fake = FakeHost::listen(socket);
    let o = relive_at(socket, &["status"]);
    (o, fake.seen())
}

#[test]
fn the_cli_sends_nothing_to_a_socket_in_a_directory_open_to_others() {
    for mode in [0o777, 0o755, 0o750] {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        std::fs::create_dir(&run).unwrap();
        chmod(&run, mode);
        let (o, seen) = status_against_a_fake_host(&run.join("admin.sock"));
        assert_eq!(o.status.code(), Some(3), "mode {mode:o}: {}", text(&o));
        assert!(
            text(&o).contains(&format!("{}: open to other users", run.display())),
            "mode {mode:o}: {}",
            text(&o)
        );
        assert_eq!(seen, (0, 0), "mode {mode:o}: the fake host heard from us");
    }
}

#[test]
fn the_cli_sends_nothing_below_a_directory_someone_else_controls() {
    // `/tmp/relive-<uid>` made by someone else first, with a proper 0700
    // directory for the socket inside it: they can swap that directory.
    let dir = tempfile::tempdir().unwrap();
    let squatted = dir.path().join("relive-squatted");
    let run = squatted.join("relive");
    std::fs::create_dir_all(&run).unwrap();
    chmod(&run, 0o700);
    chmod(&squatted, 0o777);
    let (o, seen) = status_against_a_fake_host(&run.join("admin.sock"));
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("writable by other users"), "{}", text(&o));
    assert_eq!(seen, (0, 0), "the fake host heard from us");

    if rustix::process::geteuid().as_raw() != 0 {
        eprintln!("not root: cannot give a directory to another user here");
        return;
    }
    // Closed to others, but another user's.
    std::fs::remove_file(run.join("admin.sock")).unwrap();
    chmod(&squatted, 0o755);
    std::os::unix::fs::chown(&squatted, Some(65534), Some(65534)).unwrap();
    let (o, seen) = status_against_a_fake_host(&run.join("admin.sock"));
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("owned by uid 65534"), "{}", text(&o));
    assert_eq!(seen, (0, 0));
    // A socket of another user's in our own 0700 directory.
    std::os::unix::fs::chown(&squatted, Some(0), Some(0)).unwrap();
    let socket = run.join("admin.sock");
    std::fs::remove_file(&socket).unwrap();
    let fake = FakeHost::listen(&socket);
    std::os::unix::fs::chown(&socket, Some(65534), Some(65534)).unwrap();
    let o = relive_at(&socket, &["status"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("socket owned by uid 65534"), "{}", text(&o));
    assert_eq!(fake.seen(), (0, 0));
}

#[test]
fn a_socket_path_that_is_not_ours_is_not_clobbered() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    std::fs::create_dir(&run).unwrap();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
    let path = run.join("admin.sock");
    std::fs::write(&path, "precious").unwrap();
    let o = Command::new(&built().host)
        .arg("--serve")
        .arg(&path)
        .arg("--module")
        .arg(&built().v1)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not clobbering"), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
}

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_relive")).args(args).output().unwrap()
}

#[test]
fn signatures_required_and_refused() {
    // Not under /tmp: the loader refuses libraries in directories others may write.
    let dir = relive_test_support::scratch_dir();
    let key = dir.path().join("key");
    let o = cli(&["keygen", key.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let v1 = dir.path().join("v1.so");
    std::fs::copy(&built().v1, &v1).unwrap();
    assert!(cli(&["sign", v1.to_str().unwrap(), "--key", key.to_str().unwrap()]).status.success());
    let public = format!("{}.pub", key.display());
    let host = start_host(&["--module", v1.to_str().unwrap(), "--trust-key", &public]);

    let v2 = dir.path().join("v2.so");
    std::fs::copy(&built().v2, &v2).unwrap();
    let o = relive(&host, &["upgrade", "counter", v2.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("unsigned"), "{}", text(&o));

    assert!(cli(&["sign", v2.to_str().unwrap(), "--key", key.to_str().unwrap()]).status.success());
    let mut bytes = std::fs::read(&v2).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&v2, &bytes).unwrap();
    let o = relive(&host, &["upgrade", "counter", v2.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("bad signature"), "{}", text(&o));
    assert_eq!(current_version(&host), "1.0.0");

    std::fs::copy(&built().v2, &v2).unwrap();
    assert!(cli(&["sign", v2.to_str().unwrap(), "--key", key.to_str().unwrap()]).status.success());
    let o = relive(&host, &["upgrade", "counter", v2.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn timeouts_are_human_durations() {
    let host = start_host(&[]);
    let o =
        relive(&host, &["upgrade", "counter", built().v2.to_str().unwrap(), "--timeout", "1m 30s"]);
    assert!(o.status.success(), "{}", text(&o));
    for bad in ["soon", "5 parsecs", "-1s"] {
        let o = relive(&host, &["rollback", "counter"]);
        assert!(o.status.success(), "{}", text(&o));
        let o =
            relive(&host, &["upgrade", "counter", built().v2.to_str().unwrap(), "--timeout", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", text(&o));
    }
}

#[test]
fn a_secret_key_must_be_plain_hex() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lib.so");
    std::fs::write(&file, "bytes").unwrap();
    // 64 characters that a sign-accepting digit parser reads as 32 bytes.
    let key = dir.path().join("key");
    std::fs::write(&key, "+1".repeat(32)).unwrap();
    let o = cli(&["sign", file.to_str().unwrap(), "--key", key.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    assert!(text(&o).contains("not a relive secret key"), "{}", text(&o));
    assert!(!dir.path().join("lib.so.sig").exists());
}

#[test]
fn watch_picks_up_a_rebuilt_module() {
    let host = start_host(&[]);
    // Not under /tmp: the loader refuses libraries in directories others may write.
    let dir = relive_test_support::scratch_dir();
    let mut watch = Command::new(env!("CARGO_BIN_EXE_relive"))
        .arg("--host")
        .arg(&host.socket)
        .args(["watch", dir.path().to_str().unwrap(), "--max-upgrades", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // A build that is still being written: refused, and the watcher goes on.
    std::fs::write(dir.path().join("half.so"), &std::fs::read(&built().v2).unwrap()[..4096])
        .unwrap();
    std::thread::sleep(Duration::from_millis(600));
    std::fs::copy(&built().v2, dir.path().join("libcounter.so")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while watch.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "watch did not upgrade");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = watch.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("truncated"), "the half-written file was refused: {}", text(&out));
    assert_eq!(current_version(&host), "2.0.0");
}

/// Not a test of its own: with `RELIVE_TEST_FAKE_HOST` naming a socket path,
/// listen there for two seconds and print how many connections and bytes
/// came (run as another user by `the_cli_sends_nothing_to_another_users_host`).
#[test]
fn fake_host_helper() {
    let Some(socket) = std::env::var_os("RELIVE_TEST_FAKE_HOST") else { return };
    let fake = FakeHost::listen(Path::new(&socket));
    println!("listening");
    std::thread::sleep(Duration::from_secs(2));
    let (connections, bytes) = fake.seen();
    println!("seen: {connections} connections, {bytes} bytes");
}

#[test]
fn the_cli_sends_nothing_to_another_users_host() {
    if rustix::process::geteuid().as_raw() != 0 {
        eprintln!("not root: cannot run a fake host as another user here");
        return;
    }
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    std::fs::create_dir(&run).unwrap();
    chmod(&run, 0o700);
    std::os::unix::fs::chown(&run, Some(65534), Some(65534)).unwrap();
    let socket = run.join("admin.sock");
    let mut fake = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "fake_host_helper", "--nocapture", "--test-threads=1"])
        .env("RELIVE_TEST_FAKE_HOST", &socket)
        .uid(65534)
        .gid(65534)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(fake.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("listening") {
        line.clear();
        assert_ne!(out.read_line(&mut line).unwrap(), 0, "the fake host did not start");
    }
    // Every file-system check now passes: only the peer's uid gives it away.
    std::os::unix::fs::chown(&run, Some(0), Some(0)).unwrap();
    std::os::unix::fs::chown(&socket, Some(0), Some(0)).unwrap();
    let o = relive_at(&socket, &["status"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("runs as uid 65534, not as you (uid 0)"), "{}", text(&o));
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(fake.wait().unwrap().success());
    assert!(rest.contains("seen: 1 connections, 0 bytes"), "{rest}");
}

#[test]
fn watch_names_a_library_without_loading_it() {
    let traces = tempfile::tempdir().unwrap();
    let host = start_host_with(&[], &[("RELIVE_TEST_TRACE_DIR", traces.path())]);
    let traced = relive_test_support::build_library("constructor_trace", false);
    // Built without `export_module!`, as a library from an older SDK: no record.
    let no_record = relive_test_support::build_library("no_symbol", false);
    let dir = relive_test_support::scratch_dir();
    let watch = Command::new(env!("CARGO_BIN_EXE_relive"))
        .arg("--host")
        .arg(&host.socket)
        .args(["watch", dir.path().to_str().unwrap(), "--max-upgrades", "1"])
        .env("RELIVE_TEST_TRACE_DIR", traces.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let watch_pid = watch.id();
    std::thread::sleep(Duration::from_millis(300));
    std::fs::copy(&no_record, dir.path().join("a-old-sdk.so")).unwrap();
    std::thread::sleep(Duration::from_millis(800));
    std::fs::copy(&traced, dir.path().join("b-traced.so")).unwrap();
    let out = wait_for(watch);
    assert!(out.status.success(), "{}", text(&out));
    // The host loaded the library (its constructor ran there); the CLI
    // only read the file.
    let ran_in: Vec<String> = std::fs::read_dir(traces.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!ran_in.contains(&watch_pid.to_string()), "the CLI ran the library's code: {ran_in:?}");
    assert_eq!(ran_in, [host.child.id().to_string()]);
    assert!(
        text(&out).contains("a-old-sdk.so not upgraded")
            && text(&out).contains("no relive module record"),
        "the library without a record was refused: {}",
        text(&out)
    );
    // Reading a library (an open, which inotify reports) is not a change:
    // the refusal is printed once, not again every 300 ms.
    assert_eq!(
        text(&out).matches("a-old-sdk.so not upgraded").count(),
        1,
        "the watcher's own read counted as a change: {}",
        text(&out)
    );
    assert!(text(&out).contains("counter 1.5.0"), "{}", text(&out));
    assert_eq!(current_version(&host), "1.5.0");
    // The host was never asked about the library without a record.
    let o = relive(&host, &["history", "--json"]);
    let h: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(h["History"]["entries"].as_array().unwrap().len(), 2, "{h}");
}

fn wait_for(mut child: Child) -> Output {
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("timed out: {}", text(&child.wait_with_output().unwrap()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn build_checks_and_signs_a_module() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    assert!(cli(&["keygen", key.to_str().unwrap()]).status.success());
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/counter/module_v2");
    let o = cli(&["build", crate_dir.to_str().unwrap(), "--sign", key.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!((v["module"].as_str(), v["version"].as_str()), (Some("counter"), Some("2.0.0")));
    assert!(Path::new(v["signature"].as_str().unwrap()).exists());
    let o = cli(&["build", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(5), "no crate there: {}", text(&o));
}

#[test]
fn status_shows_the_supervision_tree_with_restarts() {
    let host = start_host(&[]);
    let s = status_json(&host);
    let trees = s["Status"]["trees"].as_array().unwrap();
    assert_eq!(trees.len(), 1);
    let children = trees[0]["children"].as_array().unwrap();
    assert_eq!(children.len(), 4);
    assert_eq!(children[0]["id"], "counter-0");
    assert_eq!(children[0]["restarts"], 0);
    // issue 20: the summary gives the supervisor's counts; the actor list
    // says whose child each actor is.
    let o = relive(&host, &["status"]);
    assert!(text(&o).contains("<1> OneForOne: 4 children, 4 running, 0 restarts"), "{}", text(&o));
    let o = relive(&host, &["status", "--actors"]);
    assert!(text(&o).contains("(counter-3 of <1>)"), "{}", text(&o));
}

// issue 14: sys — `relive state / suspend / resume / stats / trace` against a
// host process with a registered counter that a thread casts `Add(1)` to.

/// `relive --json <args>`, which must succeed, parsed.
fn json_of(host: &HostProcess, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let o = relive(host, &all);
    assert!(o.status.success(), "{args:?}: {}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// gen_server_SUITE get_state and replace_state, from the CLI: by name and by
// id; a refused replace exits 1 and leaves the state as it was.
#[test]
fn cli_get_state_and_replace_state() {
    let host = start_host(&["--named", "tally"]);
    let o = relive(&host, &["state", "tally"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("\"count\": 0"), "{}", text(&o));
    let v = json_of(&host, &["state", "tally", "--replace", r#"{"count": 41}"#]);
    let id = v["State"]["actor"].as_u64().unwrap();
    let state: serde_json::Value =
        serde_json::from_str(v["State"]["state"].as_str().unwrap()).unwrap();
    assert_eq!(state, serde_json::json!({"count": 41}));
    // By id, in both spellings.
    for a in [id.to_string(), format!("<{id}>")] {
        let v = json_of(&host, &["state", &a]);
        assert_eq!(v["State"]["state"], "{\"count\":41}");
    }
    // Not the module's state: refused, exit 1, the state unchanged.
    let o = relive(&host, &["state", "tally", "--replace", r#"{"nope": true}"#]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("could not decode"), "{}", text(&o));
    assert_eq!(json_of(&host, &["state", "tally"])["State"]["state"], "{\"count\":41}");
    // No such actor: exit 1, noproc.
    let o = relive(&host, &["state", "nobody"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("noproc"), "{}", text(&o));
}

// sys_SUITE suspend and stats, from the CLI: while suspended the mail queues
// and nothing is handled; after resume all of it is.
#[test]
fn cli_suspend_resume_stats() {
    let host = start_host(&["--named", "tally", "--tick-ms", "10"]);
    let stats = |h: &HostProcess| json_of(h, &["stats", "tally"])["Stats"].clone();
    eventually("traffic", || stats(&host)["messages_in"].as_u64().unwrap() > 0);
    let o = relive(&host, &["suspend", "tally"]);
    assert!(o.status.success() && text(&o).contains("suspended"), "{}", text(&o));
    let held = stats(&host);
    assert_eq!(held["suspended"], true);
    eventually("mail to queue", || stats(&host)["mailbox"].as_u64().unwrap() >= 3);
    assert_eq!(stats(&host)["messages_in"], held["messages_in"]);
    let s = json_of(&host, &["status"]);
    let tally = s["Status"]["actors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "tally")
        .unwrap()
        .clone();
    assert_eq!(tally["state"], "suspended");
    // get_state works while suspended.
    assert!(relive(&host, &["state", "tally"]).status.success());
    let o = relive(&host, &["resume", "tally"]);
    assert!(o.status.success() && text(&o).contains("resumed"), "{}", text(&o));
    eventually("the queue to drain", || {
        let s = stats(&host);
        s["suspended"] == false
            && s["messages_in"].as_u64().unwrap() > held["messages_in"].as_u64().unwrap() + 2
    });
    let o = relive(&host, &["stats", "tally"]);
    assert!(text(&o).contains("messages in:"), "{}", text(&o));
}

// sys_SUITE log / trace, from the CLI: a bounded ring of the last N events,
// rendered by the module; --off stops it.
#[test]
fn cli_trace() {
    let host = start_host(&["--named", "tally", "--tick-ms", "5"]);
    let v = json_of(&host, &["trace", "tally", "--count", "4"]);
    assert_eq!(v["Trace"]["tracing"], true);
    eventually("4 traced events", || {
        json_of(&host, &["trace", "tally"])["Trace"]["events"].as_array().unwrap().len() == 4
    });
    let v = json_of(&host, &["trace", "tally"]);
    let events = v["Trace"]["events"].as_array().unwrap();
    assert!(events.iter().all(|e| e["kind"] == "cast" && e["message"] == "{\"Add\":1}"), "{v}");
    // The newest four, oldest first, with nothing skipped between them.
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    let o = relive(&host, &["trace", "tally"]);
    assert!(text(&o).contains("in  cast") && text(&o).contains("{\"Add\":1}"), "{}", text(&o));
    let v = json_of(&host, &["trace", "tally", "--off"]);
    assert_eq!(v["Trace"]["tracing"], false);
    // A usage error: a ring of no events.
    let o = relive(&host, &["trace", "tally", "--count", "0"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

// issue 16: observer
/// `GET path` on `addr`, the body of the answer (status checked 200).
fn http_get(addr: &str, path: &str) -> String {
    let answer = relive_test_support::http::request(addr, "GET", path, &[]);
    assert_eq!(answer.status, 200, "GET {path}: {answer:?}");
    answer.body
}

/// A `relive observe` process; killed on drop.
struct Observing(Child);

impl Drop for Observing {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn observe_serves_the_page_for_a_host_process_as_docs_cli_md_shows() {
    let host = start_host(&[]);
    let mut child = Observing(
        Command::new(env!("CARGO_BIN_EXE_relive"))
            .arg("--host")
            .arg(&host.socket)
            .args(["observe", "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    let (mut first, mut second) = (String::new(), String::new());
    out.read_line(&mut first).unwrap();
    out.read_line(&mut second).unwrap();
    let url = first.strip_prefix("observer: ").unwrap_or_else(|| panic!("{first:?}")).trim();
    let rest = url.strip_prefix("http://").unwrap();
    let (addr, query) = rest.split_once('/').unwrap();
    let token = query.strip_prefix("?token=").unwrap();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    assert_eq!(token.len(), 32);

    // The page, and a snapshot of the host through its socket.
    assert!(http_get(addr, &format!("/?token={token}")).contains("relive observer"));
    let deadline = Instant::now() + Duration::from_secs(10);
    let snap = loop {
        let s: serde_json::Value =
            serde_json::from_str(&http_get(addr, &format!("/api/snapshot?token={token}"))).unwrap();
        if !s["status"].is_null() {
            break s;
        }
        assert!(Instant::now() < deadline, "no snapshot: {s}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(snap["host"], host.socket.display().to_string());
    assert_eq!(snap["status"]["modules"][0]["current"]["version"], current_version(&host));

    // What docs/cli.md shows, with its port, token and socket.
    let port = addr.strip_prefix("127.0.0.1:").unwrap();
    let shown = format!("$ relive observe --port 7878\n{first}{second}")
        .replace(&format!(":{port}/"), ":7878/")
        .replace(token, "5f0c2a…")
        .replace(&host.socket.display().to_string(), "/run/user/1000/relive/admin.sock");
    let doc = include_str!("../../docs/cli.md");
    assert!(doc.contains(&shown), "docs/cli.md lacks, verbatim:\n{shown}");

    // No host at the socket: refused at once, with the connect exit code.
    let o = relive_at(&host.socket.with_file_name("none.sock"), &["observe"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
}

// issue 16: metrics — `relive metrics` against a host process: the
// Prometheus text, checked by promtool, with exact upgrade counts; the
// example in docs/cli.md ("Metrics") is an excerpt of this very output.

/// The `# HELP` and `# TYPE` lines of the `relive metrics` example in
/// docs/cli.md.
fn metrics_doc_lines() -> Vec<&'static str> {
    let doc = include_str!("../../docs/cli.md");
    let start = doc.find("$ relive metrics\n").expect("docs/cli.md shows `relive metrics`");
    let block = &doc[start..];
    let block = &block[..block.find("```").expect("the example block ends")];
    block.lines().filter(|l| l.starts_with("# HELP ") || l.starts_with("# TYPE ")).collect()
}

#[test]
fn relive_metrics_prints_prometheus_text_that_promtool_accepts() {
    let host = start_host(&["--named", "tally", "--tick-ms", "1"]);
    let o = relive(&host, &["upgrade", "counter", built().v2.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let o = relive(&host, &["rollback", "counter"]);
    assert!(o.status.success(), "{}", text(&o));
    // The named counter is cast to every millisecond.
    let metrics = || {
        let o = relive(&host, &["metrics"]);
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8(o.stdout).unwrap()
    };
    eventually("casts counted on 1.0.0", || {
        metrics().lines().any(|l| {
            l.strip_prefix(r#"relive_casts_total{module="counter",version="1.0.0"} "#)
                .is_some_and(|n| n.parse::<u64>().is_ok_and(|n| n > 0))
        })
    });
    let out = metrics();
    for line in [
        r#"relive_upgrades_total{module="counter",outcome="committed"} 2"#,
        r#"relive_rollbacks_total{module="counter",outcome="rolled_back"} 1"#,
        r#"relive_upgrade_migrated_actors_total{module="counter"} 10"#,
        r#"relive_version_actors{module="counter",version="1.0.0"} 5"#,
        r#"relive_version_actors{module="counter",version="2.0.0"} 0"#,
        "relive_metrics_enabled 1",
    ] {
        assert!(out.lines().any(|l| l == line), "no line `{line}` in:\n{out}");
    }
    for line in metrics_doc_lines() {
        assert!(
            out.lines().any(|l| l == line),
            "docs/cli.md shows `{line}`, the host did not print it:\n{out}"
        );
    }
    // A real parser: promtool (Debian's `prometheus`), when installed.
    match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(mut child) => {
            child.stdin.take().unwrap().write_all(out.as_bytes()).unwrap();
            let done = child.wait_with_output().unwrap();
            assert!(done.status.success(), "promtool refused:\n{}{}", text(&done), out);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => eprintln!(
            "\n!!!!! SKIPPED the promtool check: promtool is not installed (apt-get install prometheus)\n"
        ),
        Err(e) => panic!("cannot run promtool: {e}"),
    }
    // --json wraps the same text.
    let o = relive(&host, &["--json", "metrics"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["Metrics"]["text"].as_str().unwrap().contains("# TYPE relive_casts_total counter"));
}
