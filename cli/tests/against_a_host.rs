//! The real `relive` binary against a real running host process (the counter
//! example host in `--serve` mode), as a user would drive it from a shell.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
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
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("run").join("admin.sock");
    let mut child = Command::new(&built().host)
        .arg("--serve")
        .arg(&socket)
        .args(extra)
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
    Command::new(env!("CARGO_BIN_EXE_relive"))
        .arg("--host")
        .arg(&host.socket)
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
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("only answers its own user"), "{}", text(&o));
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
    let o = relive(&host, &["status"]);
    assert!(text(&o).contains("supervisor <1> OneForOne"), "{}", text(&o));
    assert!(text(&o).contains("counter-3"), "{}", text(&o));
}
