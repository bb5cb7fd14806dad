//! Builds the fixture module libraries that the tests load, with cargo, from
//! inside the test process — so `cargo test` alone on a fresh clone proves a
//! live upgrade works with real `dlopen`ed libraries.
//!
//! [`fixtures()`] builds every fixture once per test process (a nested cargo
//! build in the same target directory: the outer `cargo test` holds no build
//! lock while tests run), then copies each library into a private directory,
//! so tests may rewrite or rebuild "their" files freely.
//!
//! That directory is under the cargo target directory
//! (`target/relive-fixtures/<pid>-…`, 0700), never under the system temp
//! directory: the loader refuses a library in a directory that other users
//! may write, and `/tmp` is one (docs/decisions/0003-loader-trust.md). Use
//! [`scratch_dir`] (or [`Fixtures::scratch`]) for any file a test loads.

// issue 18: real nats-server processes for the cluster tests
/// A plain HTTP/1.1 client for the tests of the HTTP servers (the observer,
/// `relive observe`, the service_swap example).
pub mod http;
pub mod nats;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The fixtures built by cargo, by package name.
pub const FIXTURES: &[&str] = &[
    "counter_v1",
    "counter_v2",
    "counter_v1_hotfix",
    "panics_in_init",
    "panics_in_code_change",
    "wrong_abi",
    "wrong_magic",
    "wrong_name",
    "incompatible_schema",
    "unreadable_state",
    "no_symbol",
    "relay",
    "counter_v3_crashy",
    "constructor_trace",
    "slow_code_change",
    "tls_panicky",
    "tls_panicky_v2",
    "inventory",
    // issue 14: gen_server
    "gen_server",
    // issue 15: lifecycle
    "lifecycle_v1",
    "lifecycle_v2",
    "veto_on_load",
    // issue 15: dependencies
    "dep_callee_v1",
    "dep_callee_v2",
    "dep_caller_v1",
    "dep_caller_v2",
    // issue 15: interfaces that grow
    "grow_v1",
    "grow_v2",
    "grow_bad",
    "grow_caller",
    "grow_fork",
    "grow_v3",
    // issue 15: port
    "port_user",
    "port_user_v2",
    // issue 20: one dependency
    "one_dep",
    // issue 17: typed configuration, hot-reloaded
    "tuner_v1",
    "tuner_v2",
    // issue 17: functions
    "pricing_v1",
    "pricing_v2",
    "pricing_bad",
    "pricing_gone",
];

/// Built with `-C panic=abort` through `cargo rustc`.
pub const PANIC_ABORT: &str = "panic_abort";

/// The built fixture libraries.
#[derive(Debug)]
pub struct Fixtures {
    dir: tempfile::TempDir,
    paths: HashMap<String, PathBuf>,
}

impl Fixtures {
    /// The private copy of fixture `name` (a `.so`).
    ///
    /// # Panics
    /// When `name` is not a fixture.
    pub fn path(&self, name: &str) -> &Path {
        self.paths.get(name).unwrap_or_else(|| panic!("no fixture named {name}"))
    }

    /// A fresh private directory for one test's files, beside the fixtures.
    pub fn scratch(&self) -> tempfile::TempDir {
        use std::os::unix::fs::PermissionsExt;
        tempfile::Builder::new()
            .prefix("scratch-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in(self.dir.path())
            .expect("scratch dir")
    }

    /// Copy fixture `name` to `dest` (replacing it), as a rebuild would.
    pub fn install(&self, name: &str, dest: &Path) {
        let tmp = dest.with_extension("tmp");
        std::fs::copy(self.path(name), &tmp).expect("copy fixture");
        std::fs::rename(&tmp, dest).expect("install fixture");
    }
}

/// Build (once per process) and return the fixtures.
pub fn fixtures() -> &'static Fixtures {
    static FIXTURES_ONCE: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES_ONCE.get_or_init(build)
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// The cargo target directory the fixtures are built in (as `cargo metadata`
/// reports it, so `CARGO_TARGET_DIR` and cargo's configuration count).
///
/// # Panics
/// When `cargo metadata` fails.
pub fn target_dir() -> &'static Path {
    static TARGET: OnceLock<PathBuf> = OnceLock::new();
    TARGET.get_or_init(|| {
        let mut cmd = cargo();
        cmd.args(["metadata", "--format-version=1", "--no-deps"]);
        let out = cmd.output().expect("run cargo metadata");
        assert!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
        let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata json");
        PathBuf::from(meta["target_directory"].as_str().expect("target_directory"))
    })
}

/// `target/relive-fixtures`, created 0700: the parent of every directory that
/// holds library files a test loads. Directories left by test processes that
/// no longer run (statics are never dropped, so each process leaves its own)
/// are removed the first time a process asks for it.
///
/// # Panics
/// When the directory cannot be created.
pub fn fixtures_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let root = target_dir().join("relive-fixtures");
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&root).expect("fixture dir");
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700))
            .expect("fixture dir 0700");
        remove_stale(&root);
        root
    })
}

/// Remove `<pid>-…` directories under `root` whose process is gone.
fn remove_stale(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.split('-').next()) else { continue };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A fresh private directory (0700) under [`fixtures_root`], removed on drop:
/// the place for library files a test writes and loads.
///
/// # Panics
/// When the directory cannot be created.
pub fn scratch_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .prefix(&format!("{}-", std::process::id()))
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir_in(fixtures_root())
        .expect("scratch dir")
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(workspace_root());
    // Keep the outer build's flags out of ours: the fixtures are a normal build.
    cmd.env_remove("RUSTFLAGS").env_remove("CARGO_ENCODED_RUSTFLAGS");
    cmd
}

/// Run a cargo build that prints JSON messages; return `package -> .so path`.
fn run(mut cmd: Command) -> HashMap<String, PathBuf> {
    let out = cmd.output().expect("run cargo");
    if !out.status.success() {
        panic!(
            "building the fixtures failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut found = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let Some(name) = msg["target"]["name"].as_str() else { continue };
        let files = msg["filenames"].as_array().into_iter().flatten();
        for f in files.filter_map(|f| f.as_str()).filter(|f| f.ends_with(".so")) {
            found.insert(name.replace('-', "_"), PathBuf::from(f));
        }
    }
    found
}

/// Build one module library with cargo (`release` or the dev profile) and
/// return the path of the `.so` in the target directory.
///
/// # Panics
/// When cargo fails or builds no shared library for `package`.
pub fn build_library(package: &str, release: bool) -> PathBuf {
    let mut cmd = cargo();
    cmd.args(["build", "--lib", "--message-format=json-render-diagnostics", "-p", package]);
    if release {
        cmd.arg("--release");
    }
    let built = run(cmd);
    built
        .get(&package.replace('-', "_"))
        .cloned()
        .unwrap_or_else(|| panic!("cargo built no library for {package}"))
}

/// Build the binary of `package` (dev profile) and return its path.
///
/// # Panics
/// When cargo fails or builds no executable.
pub fn build_binary(package: &str) -> PathBuf {
    let mut cmd = cargo();
    cmd.args(["build", "--bins", "--message-format=json-render-diagnostics", "-p", package]);
    let out = cmd.output().expect("run cargo");
    assert!(
        out.status.success(),
        "building {package} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|m| m["executable"].as_str().map(PathBuf::from))
        .next_back()
        .unwrap_or_else(|| panic!("cargo built no executable for {package}"))
}

fn build() -> Fixtures {
    let mut cmd = cargo();
    cmd.args(["build", "--lib", "--message-format=json-render-diagnostics"]);
    for f in FIXTURES {
        cmd.args(["-p", f]);
    }
    let mut built = run(cmd);

    let mut cmd = cargo();
    cmd.args(["rustc", "--lib", "--message-format=json-render-diagnostics", "-p", PANIC_ABORT]);
    cmd.args(["--", "-C", "panic=abort"]);
    built.extend(run(cmd));

    let dir = scratch_dir();
    let mut paths = HashMap::new();
    for name in FIXTURES.iter().chain([&PANIC_ABORT]) {
        let src = built.get(*name).unwrap_or_else(|| panic!("cargo built no library for {name}"));
        let dest = dir.path().join(format!("{name}.so"));
        std::fs::copy(src, &dest).expect("copy fixture");
        paths.insert((*name).to_owned(), dest);
    }
    Fixtures { dir, paths }
}

/// Resident memory of this process in bytes (from `/proc/self/statm`; 0 if
/// it cannot be read), for the tests, benches and soaks that bound memory.
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}
