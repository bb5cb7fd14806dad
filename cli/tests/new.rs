//! issue 20: `relive new NAME` writes a workspace that builds and runs at
//! once, and whose `--serve` host a user upgrades live to a v2 they write —
//! the first hour's path, timed.
//!
//! The workspace points at this checkout by path; every cargo run here
//! shares `target/scaffold` in this checkout, so relive's own crates are
//! built once, not once per test run.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

const RELIVE: &str = env!("CARGO_BIN_EXE_relive");

fn checkout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap()
}

/// The target directory every scaffold build here shares.
fn target_dir() -> PathBuf {
    checkout().join("target").join("scaffold")
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.env("CARGO_TARGET_DIR", target_dir()).env("RUST_BACKTRACE", "0");
    cmd
}

fn relive(dir: &Path, args: &[&str]) -> Output {
    Command::new(RELIVE).current_dir(dir).args(args).output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Write `name` into a fresh directory with a path dependency on this
/// checkout. (Each test has its own name: they share a target directory.)
fn scaffold(parent: &Path, name: &str) -> PathBuf {
    let path = checkout().display().to_string();
    let out = relive(parent, &["new", name, "--relive-path", &path]);
    assert!(out.status.success(), "{}", text(&out));
    let root = parent.join(name);
    for f in ["Cargo.toml", "README.md", "api/Cargo.toml", "module/src/lib.rs", "host/src/main.rs"]
    {
        assert!(root.join(f).is_file(), "relive new wrote no {f}");
    }
    root
}

/// The host kills on drop (it is our child; we started it).
struct Serving {
    child: Child,
    lines: Receiver<String>,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serving {
    /// The first line that starts with `prefix`, within `limit`.
    fn line(&self, prefix: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.starts_with(prefix) => return l,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => panic!("no line `{prefix}…` within {limit:?}"),
                Err(RecvTimeoutError::Disconnected) => panic!("the host exited before `{prefix}…`"),
            }
        }
    }
}

#[test]
fn a_new_workspace_runs_at_once_and_exits_zero() {
    let parent = tempfile::tempdir().unwrap();
    let root = scaffold(parent.path(), "billing");
    let manifest = std::fs::read_to_string(root.join("module/Cargo.toml")).unwrap();
    let deps = manifest.split("[dependencies]").nth(1).unwrap();
    assert_eq!(
        deps.lines()
            .filter(|l| l.contains('='))
            .map(|l| l.split('=').next().unwrap().trim())
            .collect::<Vec<_>>(),
        ["relive-sdk", "billing-api"],
        "a module depends on relive-sdk and its interface only"
    );
    let out = cargo().arg("run").current_dir(&root).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("built billing 1.0.0 at "), "{}", text(&out));
    assert!(stdout.contains("billing 1.0.0: total 6 after 3 adds"), "{}", text(&out));
}

#[test]
fn relive_new_refuses_an_existing_directory_and_a_bad_name() {
    let parent = tempfile::tempdir().unwrap();
    std::fs::create_dir(parent.path().join("taken")).unwrap();
    let path = checkout().display().to_string();
    let out = relive(parent.path(), &["new", "taken", "--relive-path", &path]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"), "{}", text(&out));
    let out = relive(parent.path(), &["new", "Bad Name", "--relive-path", &path]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a usable name"), "{}", text(&out));
    let out = relive(parent.path(), &["new", "fine", "--relive-path", "/nonexistent"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a relive checkout"),
        "{}",
        text(&out)
    );
    assert!(!parent.path().join("fine").exists(), "a refused new wrote nothing");
}

#[test]
fn relive_new_to_a_first_live_upgrade() {
    let started = Instant::now();
    let parent = tempfile::tempdir().unwrap();
    let root = scaffold(parent.path(), "ledger");

    // Build the host, then run its binary ourselves (so that we own the
    // process we stop), as `cargo run -- --serve` would.
    let out = cargo().args(["build", "-p", "ledger-host"]).current_dir(&root).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let mut child = Command::new(target_dir().join("debug/ledger-host"))
        .arg("--serve")
        .env("CARGO", std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .env("CARGO_TARGET_DIR", target_dir())
        .current_dir(&root)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("host: {line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let host = Serving { child, lines };
    host.line("ledger 1.0.0: total 6", Duration::from_secs(300));
    let socket = host.line("admin socket: ", Duration::from_secs(10));
    let socket = socket.trim_start_matches("admin socket: ").to_owned();
    assert!(Path::new(&socket).starts_with(&root), "the socket is in the workspace: {socket}");

    // Version 2, as the README says: new logic, a new version.
    let lib = root.join("module/src/lib.rs");
    let code = std::fs::read_to_string(&lib).unwrap();
    assert!(code.contains("self.total += n;"));
    std::fs::write(&lib, code.replace("self.total += n;", "self.total += 2 * n;")).unwrap();
    let manifest = root.join("module/Cargo.toml");
    let toml = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, toml.replace("version = \"1.0.0\"", "version = \"2.0.0\"")).unwrap();

    let built = Command::new(RELIVE)
        .current_dir(&root)
        .env("CARGO_TARGET_DIR", target_dir())
        .args(["build", "module"])
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", text(&built));
    let stdout = String::from_utf8_lossy(&built.stdout);
    let so = stdout.lines().next().unwrap().trim().to_owned();
    assert!(stdout.contains("module ledger 2.0.0"), "{}", text(&built));

    let up = relive(&root, &["--host", &socket, "upgrade", "ledger", &so]);
    assert!(up.status.success(), "{}", text(&up));
    let now = host.line("ledger: now served by version 2.0.0", Duration::from_secs(30));
    let elapsed = started.elapsed();
    assert!(now.contains("state kept"), "{now}");
    // The total carried over (6 and more): the state was kept, not reset.
    let total: u64 = now
        .split("total ")
        .nth(1)
        .and_then(|t| t.split(',').next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no total in `{now}`"));
    assert!(total > 6, "{now}");
    println!("relive new -> first live upgrade: {:.1} s", elapsed.as_secs_f64());
}

/// The lines of `text`, trimmed, without empty ones.
fn lines(text: &str) -> Vec<&str> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect()
}

/// docs/guide.md's first pages (sections 0 to 2 up to "gen_server
/// behaviour": `relive new`, v2, the interface crate, the module crate): every `toml` and `rust` snippet is,
/// verbatim up to indentation, what `relive new billing` writes (with this
/// checkout's path shown as `/path/to/relive`), and every `sh` command is a
/// `cd`, a `cargo` command, or a `relive` command line the CLI parses.
#[test]
fn every_snippet_of_the_guides_first_pages_is_what_relive_new_writes() {
    let guide = std::fs::read_to_string(checkout().join("docs/guide.md")).unwrap();
    let start = guide.find("## 0. Start: `relive new`").expect("the section");
    let end = guide.find("### gen_server behaviour").expect("the gen_server section");
    let pages = &guide[start..end];

    let parent = tempfile::tempdir().unwrap();
    let root = scaffold(parent.path(), "billing");
    let shown = checkout().display().to_string();
    let files: Vec<String> = [
        "Cargo.toml",
        "api/Cargo.toml",
        "api/src/lib.rs",
        "module/Cargo.toml",
        "module/src/lib.rs",
        "host/src/main.rs",
    ]
    .iter()
    .map(|f| std::fs::read_to_string(root.join(f)).unwrap().replace(&shown, "/path/to/relive"))
    .collect();
    let file_lines: Vec<Vec<&str>> = files.iter().map(|f| lines(f)).collect();

    let mut checked = 0;
    for block in pages.split("```").skip(1).step_by(2) {
        let (lang, body) = block.split_once('\n').unwrap();
        let snippet = lines(body);
        assert!(!snippet.is_empty());
        match lang {
            "toml" | "rust" => {
                let found = file_lines
                    .iter()
                    .any(|f| f.windows(snippet.len()).any(|w| w == snippet.as_slice()));
                assert!(found, "not what relive new writes:\n{}", snippet.join("\n"));
            }
            "sh" => {
                for command in snippet.iter().flat_map(|l| l.split("&&")).map(str::trim) {
                    // `lib=$(relive build … | head -1)`: the relive command inside.
                    let command =
                        match command.strip_prefix("lib=$(").and_then(|c| c.strip_suffix(')')) {
                            Some(inner) => inner.split('|').next().unwrap_or("").trim(),
                            None => command,
                        };
                    let words: Vec<&str> = command.split_whitespace().collect();
                    match words.first() {
                        Some(&"cd") | Some(&"cargo") => {}
                        Some(&"relive") => {
                            let mut args = words[1..].to_vec();
                            args.push("--help");
                            let out = relive(parent.path(), &args);
                            assert!(out.status.success(), "`{command}`: {}", text(&out));
                        }
                        _ => panic!("a shell line the guide should not have: `{command}`"),
                    }
                }
            }
            "text" => continue,
            other => panic!("a `{other}` snippet in the guide's first pages"),
        }
        checked += 1;
    }
    assert_eq!(checked, 8, "the first pages' snippets");
}
