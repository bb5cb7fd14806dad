//! `relive`: drive a running relive host over its admin socket, and build,
//! sign and watch module libraries.
//!
//! Exit codes (docs/cli.md): 0 done; 1 the host refused (nothing changed);
//! 2 bad usage; 3 no host at the socket, or not allowed; 4 protocol error;
//! 5 a build or a local file failed.
#![forbid(unsafe_code)]

mod client;
// issue 18 §2: fleet rollouts
mod fleet;
mod local;
// issue 20: relive new
mod new;
// issue 16: observer
mod observe;
mod render;

use clap::{Parser, Subcommand};
use relive_runtime::admin::protocol::{Command, ErrorKind, Mode, Response};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

const EXIT_REFUSED: u8 = 1;
const EXIT_CONNECT: u8 = 3;
const EXIT_PROTOCOL: u8 = 4;
const EXIT_LOCAL: u8 = 5;

/// relive: live upgrade for Rust services.
#[derive(Debug, Parser)]
#[command(name = "relive", version, about)]
struct Cli {
    /// The host's admin socket.
    #[arg(long, global = true, env = "RELIVE_SOCKET", default_value_os_t = default_socket())]
    host: PathBuf,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Cmd,
}

fn default_socket() -> PathBuf {
    let base = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(format!("/tmp/relive-{}", rustix::process::geteuid().as_raw()))
    });
    base.join("relive").join("admin.sock")
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// A summary of the running host: modules, versions with their actor
    /// counts, gradual upgrades, supervisors; actors only when asked.
    Status {
        /// List actors too (the first 50 without --limit).
        #[arg(long)]
        actors: bool,
        /// Only this module, and list its actors.
        #[arg(long, value_name = "NAME")]
        module: Option<String>,
        /// List at most N actors (with --json: print at most N).
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
    },
    /// Upgrade a module to a library, migrating its actors; with more
    /// `NAME PATH` pairs, upgrade them all as one unit, callees first.
    Upgrade {
        /// The module.
        name: String,
        /// The library (.so).
        path: PathBuf,
        /// More modules of the same unit: `NAME PATH NAME PATH …`.
        #[arg(value_names = ["NAME", "PATH"])]
        more: Vec<String>,
        /// Move a canary share first; both versions serve until promote/abort.
        #[arg(long)]
        gradual: bool,
        /// The canary share: a count (`5`) or a percentage (`10%`).
        #[arg(long, requires = "gradual")]
        canary: Option<String>,
        /// Suspend timeout, a duration with units (`5s`, `500ms`, `1m 30s`).
        #[arg(long, value_parser = humantime::parse_duration)]
        timeout: Option<Duration>,
        /// Load a build marked bad, or another build of the running version.
        #[arg(long)]
        force: bool,
        /// Stop actors still on the old version instead of refusing.
        #[arg(long)]
        purge: bool,
    },
    /// Finish a gradual upgrade.
    Promote {
        /// The module.
        name: String,
    },
    /// Cancel a gradual upgrade.
    Abort {
        /// The module.
        name: String,
        /// Even when the canaries were handed a message the old version
        /// lacks (such messages are then refused).
        #[arg(long)]
        force: bool,
    },
    /// Make the old version current again.
    Rollback {
        /// The module.
        name: String,
        /// Even to a version lacking a message variant callers used (such
        /// messages are then refused).
        #[arg(long)]
        force: bool,
    },
    /// Drop the old version (stopping actors still on it, unless --soft).
    Purge {
        /// The module.
        name: String,
        /// Refuse while actors run the old version.
        #[arg(long)]
        soft: bool,
    },
    /// Both versions of a module.
    Which {
        /// The module.
        name: String,
    },
    /// The upgrade history, in local time: every load, upgrade, rollback,
    /// purge and mark-bad, with its build and file; refusals with their reason.
    History {
        /// Only this module.
        name: Option<String>,
    },
    // issue 16: metrics
    /// The host's metrics in the Prometheus text format (what a `/metrics`
    /// endpoint serves): messages, mailboxes, crashes, upgrades, ports.
    Metrics,
    // issue 14: sys — ACTOR is an id (`12` or `<12>`) or a registered name.
    /// An actor's state, as its module shows it (OTP's `sys:get_state`).
    State {
        /// The actor: an id or a registered name.
        actor: String,
        /// Replace the state with this JSON first (OTP's `sys:replace_state`);
        /// the module decodes and validates it, or refuses and keeps its state.
        #[arg(long, value_name = "JSON")]
        replace: Option<String>,
    },
    /// Suspend an actor: its mail stays queued until `resume`.
    Suspend {
        /// The actor: an id or a registered name.
        actor: String,
    },
    /// Resume a suspended actor.
    Resume {
        /// The actor: an id or a registered name.
        actor: String,
    },
    /// An actor's counters: messages in and out, turns, mailbox.
    Stats {
        /// The actor: an id or a registered name.
        actor: String,
    },
    /// Trace an actor's messages in and out: starts tracing (keeping the
    /// last N events) and shows the events kept so far.
    Trace {
        /// The actor: an id or a registered name.
        actor: String,
        /// Keep the last N events (default 10; resizes a running trace).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        count: Option<u64>,
        /// Stop tracing.
        #[arg(long, conflicts_with = "count")]
        off: bool,
    },
    // end issue 14: sys
    // issue 16: observer
    /// Serve the observer page for the host: a live web page of its trees,
    /// versions, upgrades, crashes and canaries (docs/observer.md). Prints
    /// its URL, token included, and serves until stopped.
    Observe {
        /// The port on 127.0.0.1 (default: a free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// The address to listen on; anything but loopback also needs
        /// --allow-non-loopback.
        #[arg(long, default_value = "127.0.0.1")]
        addr: std::net::IpAddr,
        /// Serve on a non-loopback address (unencrypted: whoever has the
        /// token can promote and abort).
        #[arg(long)]
        allow_non_loopback: bool,
    },
    // issue 17: typed configuration, hot-reloaded
    /// The host's configuration files: format, revision in force, when it
    /// was applied, and the last refusal (the old configuration stayed).
    Config,
    /// Build a module crate and check it loads as a host would.
    Build {
        /// The crate's directory.
        crate_dir: PathBuf,
        /// Build with the release profile.
        #[arg(long)]
        release: bool,
        /// Sign the library with this secret key.
        #[arg(long)]
        sign: Option<PathBuf>,
    },
    /// Upgrade the running host whenever a module library in DIR changes.
    Watch {
        /// The directory to watch.
        dir: PathBuf,
        /// Stop after this many successful upgrades (for scripts and tests).
        #[arg(long)]
        max_upgrades: Option<usize>,
    },
    /// Make an ed25519 key pair: FILE (secret, 0600) and FILE.pub.
    Keygen {
        /// Where to write the secret key.
        out: PathBuf,
    },
    /// Sign a library: writes FILE.sig.
    Sign {
        /// The library.
        file: PathBuf,
        /// The secret key.
        #[arg(long)]
        key: PathBuf,
    },
    // issue 18 §2: fleet rollouts
    /// Roll a module out over a cluster's hosts (canaries, bake, the rest,
    /// or abort), and show each host's versions: through NATS, not the
    /// admin socket.
    Fleet(fleet::FleetArgs),
    // issue 20: relive new
    /// Write a new workspace NAME/: an interface crate, a module (v1) and a
    /// host that builds, loads and runs it (`cd NAME && cargo run`).
    New {
        /// The service's name (also the module's and the directory's).
        name: String,
        /// Point at the relive checkout in DIR (default: the one this CLI was
        /// built from).
        #[arg(long, conflicts_with = "relive_git")]
        relive_path: Option<PathBuf>,
        /// Point at relive's git repository at URL instead of a checkout.
        #[arg(long)]
        relive_git: Option<String>,
    },
}

fn canary(s: Option<&str>) -> Result<Mode, String> {
    match s {
        None => Ok(Mode::Gradual { count: None, percent: Some(10) }),
        Some(c) => match c.strip_suffix('%') {
            Some(p) => p
                .parse()
                .map(|p| Mode::Gradual { count: None, percent: Some(p) })
                .map_err(|_| format!("bad canary `{c}`")),
            None => c
                .parse()
                .map(|n| Mode::Gradual { count: Some(n), percent: None })
                .map_err(|_| format!("bad canary `{c}`")),
        },
    }
}

/// Send one command and print its answer.
fn remote(socket: &Path, json: bool, command: Command) -> ExitCode {
    remote_showing(socket, json, command, &render::Show::default())
}

/// Send one command and print its answer, `status` listing what `show` asks.
fn remote_showing(socket: &Path, json: bool, command: Command, show: &render::Show) -> ExitCode {
    let mut client = match client::Client::connect(socket) {
        Ok(c) => c,
        Err(client::ConnectError::Untrusted(e)) => {
            eprintln!("relive: not talking to {}, nothing sent: {e}", socket.display());
            return ExitCode::from(EXIT_CONNECT);
        }
        Err(e) => {
            eprintln!("relive: cannot reach a host at {}: {e}", socket.display());
            return ExitCode::from(EXIT_CONNECT);
        }
    };
    let bar = indicatif::ProgressBar::hidden();
    let answer = client.request(command, |done, total| {
        if bar.is_hidden() && !json {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            bar.set_style(
                indicatif::ProgressStyle::with_template("migrating {bar:40} {pos}/{len} actors")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
        }
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    });
    bar.finish_and_clear();
    match answer {
        Ok(Response::Done(out)) => {
            if json {
                let value = render::json(&out, show);
                println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
            } else {
                print!("{}", render::human(&out, show));
            }
            ExitCode::SUCCESS
        }
        Ok(Response::Error { kind, message }) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "error": format!("{kind:?}"), "message": message })
                );
            } else {
                eprintln!("relive: {message}");
            }
            ExitCode::from(match kind {
                ErrorKind::PermissionDenied => EXIT_CONNECT,
                ErrorKind::BadRequest => EXIT_PROTOCOL,
                ErrorKind::Refused | ErrorKind::NotFound => EXIT_REFUSED,
            })
        }
        Ok(Response::Progress { .. }) => ExitCode::from(EXIT_PROTOCOL),
        Err(e) => {
            eprintln!("relive: {e}");
            ExitCode::from(if e.kind() == std::io::ErrorKind::InvalidData {
                EXIT_PROTOCOL
            } else {
                EXIT_CONNECT
            })
        }
    }
}

fn local_result(
    json: bool,
    r: Result<serde_json::Value, String>,
    text: impl FnOnce(&serde_json::Value) -> String,
) -> ExitCode {
    match r {
        Ok(v) => {
            if json {
                println!("{v}");
            } else {
                println!("{}", text(&v));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("relive: {e}");
            ExitCode::from(EXIT_LOCAL)
        }
    }
}

/// Watch `dir`; upgrade the host when a library there changes.
fn watch(socket: &Path, json: bool, dir: &Path, max: Option<usize>) -> ExitCode {
    use notify::{RecursiveMode, Watcher};
    let (tx, rx) = std::sync::mpsc::channel();
    let mut watcher = match notify::recommended_watcher(move |e: notify::Result<notify::Event>| {
        // Opening or reading a file is no change, and the watcher reads every
        // library it sees: counting those would start another round of
        // reading every 300 ms, forever. A write being finished is a change.
        use notify::event::{AccessKind, AccessMode, EventKind};
        if let Ok(e) = e
            && (!matches!(e.kind, EventKind::Access(_))
                || e.kind == EventKind::Access(AccessKind::Close(AccessMode::Write)))
        {
            for p in e.paths {
                let _ = tx.send(p);
            }
        }
    }) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("relive: cannot watch: {e}");
            return ExitCode::from(EXIT_LOCAL);
        }
    };
    if let Err(e) = watcher.watch(dir, RecursiveMode::NonRecursive) {
        eprintln!("relive: cannot watch {}: {e}", dir.display());
        return ExitCode::from(EXIT_LOCAL);
    }
    eprintln!("relive: watching {}", dir.display());
    let mut upgrades = 0;
    loop {
        let Ok(first) = rx.recv() else { return ExitCode::SUCCESS };
        // Debounce: a build writes a library in several steps.
        let mut changed = std::collections::BTreeSet::from([first]);
        while let Ok(p) = rx.recv_timeout(Duration::from_millis(300)) {
            changed.insert(p);
        }
        for path in
            changed.into_iter().filter(|p| p.extension().is_some_and(|e| e == "so") && p.exists())
        {
            let module = match local::module_of(&path) {
                Ok(record) => {
                    eprintln!(
                        "relive: {} is module {} {}: upgrading",
                        path.display(),
                        record.name,
                        record.version
                    );
                    record.name
                }
                Err(e) => {
                    eprintln!(
                        "relive: {} not upgraded, the running version stays: {e}",
                        path.display()
                    );
                    continue;
                }
            };
            let command = Command::Upgrade {
                module,
                path: path.display().to_string(),
                mode: Mode::Atomic,
                timeout_ms: None,
                force: false,
                purge: false,
            };
            if remote(socket, json, command) == ExitCode::SUCCESS {
                upgrades += 1;
                if max.is_some_and(|m| upgrades >= m) {
                    return ExitCode::SUCCESS;
                }
            }
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (socket, json) = (cli.host.as_path(), cli.json);
    match cli.command {
        Cmd::Status { actors, module, limit } => {
            let actors = actors || module.is_some() || limit.is_some();
            let show = render::Show { actors, module, limit };
            remote_showing(socket, json, Command::Status, &show)
        }
        Cmd::Upgrade { name, path, more, gradual, canary: share, timeout, force, purge } => {
            // issue 15: dependencies — several pairs are one unit.
            if !more.is_empty() {
                let timeout_ms = timeout.map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX));
                return match unit(name, path, &more, gradual) {
                    Ok(modules) => remote(
                        socket,
                        json,
                        Command::UpgradeAll { modules, timeout_ms, force, purge },
                    ),
                    Err(e) => {
                        eprintln!("relive: {e}");
                        ExitCode::from(2)
                    }
                };
            }
            let mode = if gradual {
                match canary(share.as_deref()) {
                    Ok(m) => m,
                    Err(e) => {
                        eprintln!("relive: {e}");
                        return ExitCode::from(2);
                    }
                }
            } else {
                Mode::Atomic
            };
            let timeout_ms = timeout.map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX));
            // The host opens the path itself: make it absolute here.
            let path = std::path::absolute(&path).unwrap_or(path);
            let command = Command::Upgrade {
                module: name,
                path: path.display().to_string(),
                mode,
                timeout_ms,
                force,
                purge,
            };
            remote(socket, json, command)
        }
        Cmd::Promote { name } => remote(socket, json, Command::Promote { module: name }),
        Cmd::Abort { name, force } => remote(socket, json, Command::Abort { module: name, force }),
        Cmd::Rollback { name, force } => {
            remote(socket, json, Command::Rollback { module: name, force })
        }
        Cmd::Purge { name, soft } => remote(socket, json, Command::Purge { module: name, soft }),
        Cmd::Which { name } => remote(socket, json, Command::Which { module: name }),
        Cmd::History { name } => remote(socket, json, Command::History { module: name }),
        // issue 16: metrics
        Cmd::Metrics => remote(socket, json, Command::Metrics),
        // issue 14: sys
        Cmd::State { actor, replace } => remote(socket, json, Command::State { actor, replace }),
        Cmd::Suspend { actor } => remote(socket, json, Command::Suspend { actor }),
        Cmd::Resume { actor } => remote(socket, json, Command::Resume { actor }),
        Cmd::Stats { actor } => remote(socket, json, Command::Stats { actor }),
        Cmd::Trace { actor, count, off } => {
            let count = count.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
            remote(socket, json, Command::Trace { actor, count, off })
        }
        // issue 17: typed configuration, hot-reloaded
        Cmd::Config => remote(socket, json, Command::Config),
        Cmd::Build { crate_dir, release, sign } => {
            let r = local::build(&crate_dir, release).and_then(|b| {
                let sig = match &sign {
                    Some(key) => Some(local::sign(&b.path, key)?.display().to_string()),
                    None => None,
                };
                Ok(serde_json::json!({
                    "path": b.path.display().to_string(),
                    "module": b.module,
                    "version": b.version,
                    "hash": b.hash,
                    "signature": sig,
                }))
            });
            local_result(json, r, |v| {
                format!(
                    "{}\n  module {} {} build {}{}",
                    v["path"].as_str().unwrap_or(""),
                    v["module"].as_str().unwrap_or(""),
                    v["version"].as_str().unwrap_or(""),
                    v["hash"].as_str().unwrap_or(""),
                    v["signature"].as_str().map(|s| format!("\n  signed: {s}")).unwrap_or_default()
                )
            })
        }
        // issue 20: relive new
        Cmd::New { name, relive_path, relive_git } => {
            let source = match (relive_git, relive_path.or_else(new::ReliveSource::this_checkout)) {
                (Some(url), _) => Ok(new::ReliveSource::Git(url)),
                (None, Some(dir)) => Ok(new::ReliveSource::Path(dir)),
                (None, None) => {
                    Err("no relive checkout found: pass --relive-path DIR or --relive-git URL"
                        .to_owned())
                }
            };
            let r = source.and_then(|source| {
                let root = new::new(Path::new("."), &name, &source).map_err(|e| e.to_string())?;
                Ok(serde_json::json!({ "dir": root.display().to_string(), "name": name }))
            });
            local_result(json, r, |v| {
                let dir = v["dir"].as_str().unwrap_or("");
                format!(
                    "wrote {dir}\n  next: cd {dir} && cargo run   (README.md: write v2, upgrade live)"
                )
            })
        }
        // issue 16: observer
        Cmd::Observe { port, addr, allow_non_loopback } => {
            observe::run(socket, port, addr, allow_non_loopback)
        }
        Cmd::Watch { dir, max_upgrades } => watch(socket, json, &dir, max_upgrades),
        // issue 18 §2: fleet rollouts
        Cmd::Fleet(args) => fleet::run(args, json),
        Cmd::Keygen { out } => local_result(
            json,
            local::keygen(&out)
                .map(|p| serde_json::json!({ "secret": out.display().to_string(), "public": p })),
            |v| {
                format!(
                    "secret key: {}\npublic key: {}",
                    v["secret"].as_str().unwrap_or(""),
                    v["public"].as_str().unwrap_or("")
                )
            },
        ),
        Cmd::Sign { file, key } => local_result(
            json,
            local::sign(&file, &key)
                .map(|p| serde_json::json!({ "signature": p.display().to_string() })),
            |v| format!("signed: {}", v["signature"].as_str().unwrap_or("")),
        ),
    }
}

// issue 15: dependencies
/// The `(module, absolute path)` pairs of `relive upgrade A a.so B b.so …`.
fn unit(
    name: String,
    path: PathBuf,
    more: &[String],
    gradual: bool,
) -> Result<Vec<(String, String)>, String> {
    if gradual {
        return Err("--gradual upgrades one module; several are upgraded atomically".into());
    }
    if !more.len().is_multiple_of(2) {
        return Err(format!(
            "`{}` has no library path: give NAME PATH pairs",
            more[more.len() - 1]
        ));
    }
    let absolute = |p: PathBuf| std::path::absolute(&p).unwrap_or(p).display().to_string();
    let mut pairs = vec![(name, absolute(path))];
    for pair in more.chunks(2) {
        pairs.push((pair[0].clone(), absolute(PathBuf::from(&pair[1]))));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upgrade_takes_one_pair_or_a_unit_of_pairs() {
        let one = Cli::try_parse_from(["relive", "upgrade", "a", "/a.so"]).unwrap();
        let Cmd::Upgrade { name, more, .. } = one.command else { unreachable!() };
        assert_eq!((name.as_str(), more.len()), ("a", 0));
        let two = Cli::try_parse_from(["relive", "upgrade", "a", "/a.so", "b", "/b.so"]).unwrap();
        let Cmd::Upgrade { name, path, more, .. } = two.command else { unreachable!() };
        let pairs = unit(name, path, &more, false).unwrap();
        assert_eq!(pairs, [("a".into(), "/a.so".into()), ("b".into(), "/b.so".into())]);
        assert!(unit("a".into(), "/a.so".into(), &["b".into()], false).is_err());
        assert!(unit("a".into(), "/a.so".into(), &["b".into(), "/b".into()], true).is_err());
    }

    fn timeout(arg: &str) -> Result<Option<Duration>, clap::Error> {
        let cli = Cli::try_parse_from(["relive", "upgrade", "m", "m.so", "--timeout", arg])?;
        match cli.command {
            Cmd::Upgrade { timeout, .. } => Ok(timeout),
            _ => unreachable!(),
        }
    }

    #[test]
    fn durations_and_canaries_parse() {
        assert_eq!(timeout("5s").unwrap(), Some(Duration::from_secs(5)));
        assert_eq!(timeout("250ms").unwrap(), Some(Duration::from_millis(250)));
        assert_eq!(timeout("1m 30s").unwrap(), Some(Duration::from_secs(90)));
        // A unit is needed: a bare number is a usage error, not milliseconds.
        assert!(timeout("500").is_err());
        assert!(timeout("x").is_err());
        assert_eq!(canary(Some("10%")), Ok(Mode::Gradual { count: None, percent: Some(10) }));
        assert_eq!(canary(Some("3")), Ok(Mode::Gradual { count: Some(3), percent: None }));
        assert!(canary(Some("lots")).is_err());
    }
}
