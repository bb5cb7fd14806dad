//! The admin socket: how the `relive` CLI talks to a running host.
//!
//! A host opts in with one line, [`HostHandle::serve_admin`]. The socket is
//! a Unix domain socket created with mode 0600 in a directory only the owner
//! can enter (created 0700 if missing; refused if others can enter it). A
//! path that exists and is not a stale socket of ours is never clobbered.
//! Every connection's peer uid is checked (`SO_PEERCRED`): any uid but the
//! host's is answered with `PermissionDenied` and logged. The protocol is in
//! [`protocol`]; every request gets an answer, a garbled one included.

pub mod protocol;

use crate::host::{
    Canary, HostHandle, HostUpgradeError, HostUpgradeOptions, MigrationReport, UpgradeMode,
};
use protocol::{
    ActorView, Command, ErrorKind, HistoryView, Mode, ModuleView, Output, PROTOCOL_VERSION,
    Request, Response, VersionView,
};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// Longest request line accepted (a request is a few hundred bytes).
const MAX_LINE: u64 = 64 * 1024;

/// A running admin listener; dropping it stops it and removes the socket.
#[derive(Debug)]
pub struct AdminServer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl AdminServer {
    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        // ORDERING: SeqCst; the accept loop checks it after each connection.
        self.stop.store(true, Ordering::SeqCst);
        let _ = UnixStream::connect(&self.path);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Make `path` usable for a new socket without clobbering anything.
fn prepare(path: &Path) -> io::Result<()> {
    let me = euid();
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.exists() {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    }
    let meta = std::fs::metadata(dir)?;
    if meta.uid() != me || meta.permissions().mode() & 0o077 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{}: the socket's directory must be ours and closed to others (0700)",
                dir.display()
            ),
        ));
    }
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(m) if !m.file_type().is_socket() || m.uid() != me => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{}: exists and is not a socket of ours; not clobbering it", path.display()),
        )),
        Ok(_) => {
            if UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{}: another host is listening there", path.display()),
                ));
            }
            // A stale socket of ours (a host that died): replace it.
            std::fs::remove_file(path)
        }
    }
}

impl HostHandle {
    /// Open the admin socket at `path` (see the module docs).
    ///
    /// # Errors
    /// The directory is open to others, the path exists and is not a stale
    /// socket of ours, another host listens there, or the socket cannot be
    /// created.
    pub fn serve_admin(&self, path: impl AsRef<Path>) -> io::Result<AdminServer> {
        let path = path.as_ref().to_owned();
        prepare(&path)?;
        let listener = UnixListener::bind(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        let stop = Arc::new(AtomicBool::new(false));
        let host = self.clone();
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new().name("relive-admin".into()).spawn(move || {
            for conn in listener.incoming() {
                // ORDERING: SeqCst, as in `drop`.
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = conn else { continue };
                let host = host.clone();
                let _ = std::thread::Builder::new()
                    .name("relive-admin-conn".into())
                    .spawn(move || serve_connection(&host, stream));
            }
        })?;
        tracing::info!(socket = %path.display(), "admin socket open");
        Ok(AdminServer { path, stop, thread: Some(thread) })
    }
}

fn send(out: &mut impl Write, r: &Response) -> io::Result<()> {
    let mut line = serde_json::to_vec(r).map_err(io::Error::other)?;
    line.push(b'\n');
    out.write_all(&line)?;
    out.flush()
}

fn error(kind: ErrorKind, message: impl Into<String>) -> Response {
    Response::Error { kind, message: message.into() }
}

fn serve_connection(host: &HostHandle, stream: UnixStream) {
    let mut out = match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    };
    match rustix::net::sockopt::socket_peercred(&stream) {
        Ok(cred) if cred.uid.as_raw() == euid() => {}
        Ok(cred) => {
            tracing::warn!(
                uid = cred.uid.as_raw(),
                pid = cred.pid.as_raw_nonzero().get(),
                "admin request from another user refused"
            );
            let _ = send(
                &mut out,
                &error(ErrorKind::PermissionDenied, "this host only answers its own user"),
            );
            // Read (and ignore) the request before closing, so that the
            // client's write does not fail before it reads the answer.
            let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
            let mut discard = Vec::new();
            let _ =
                BufReader::new(io::Read::take(&stream, MAX_LINE)).read_until(b'\n', &mut discard);
            return;
        }
        Err(e) => {
            let _ = send(
                &mut out,
                &error(ErrorKind::PermissionDenied, format!("cannot identify the peer: {e}")),
            );
            return;
        }
    }
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = Vec::new();
        match io::Read::take(&mut reader, MAX_LINE).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let answer = match serde_json::from_slice::<Request>(&line) {
            Err(e) => error(ErrorKind::BadRequest, format!("garbled request: {e}")),
            Ok(r) if r.version != PROTOCOL_VERSION => error(
                ErrorKind::BadRequest,
                format!(
                    "protocol version {} not spoken here (this host speaks {PROTOCOL_VERSION})",
                    r.version
                ),
            ),
            Ok(r) => {
                tracing::info!(command = ?r.command, "admin request");
                dispatch(host, r.command, &mut out)
            }
        };
        if send(&mut out, &answer).is_err() {
            return;
        }
    }
}

fn version_view(v: &crate::code_server::VersionInfo) -> VersionView {
    let source = match &v.origin {
        crate::code_server::Origin::Dylib { path, .. } => path.display().to_string(),
        crate::code_server::Origin::Static => "static".into(),
    };
    VersionView {
        version: v.version.to_string(),
        hash: v.hash.to_string(),
        source,
        actors: v.instances,
    }
}

fn module_view(host: &HostHandle, name: &str) -> Option<ModuleView> {
    let which = host.code().which(name)?;
    let file_changed =
        matches!(host.code().module_status(name), Some(crate::ModuleStatus::Modified { .. }));
    Some(ModuleView {
        name: name.to_owned(),
        current: version_view(&which.current),
        old: which.old.as_ref().map(version_view),
        file_changed,
    })
}

fn migration(report: &MigrationReport, to: Option<String>, modules: Vec<String>) -> Output {
    Output::Migration {
        modules,
        to,
        migrated: report.migrated,
        restored_from_snapshot: report.restored_from_snapshot,
        remaining: report.remaining,
        failed: report
            .failed
            .iter()
            .map(|f| format!("{} ({}): {}", f.actor, f.module, f.reason))
            .collect(),
        duration_us: report.duration.as_micros() as u64,
        longest_pause_us: report.longest_pause.as_micros() as u64,
    }
}

fn upgrade_error(e: &HostUpgradeError) -> Response {
    let kind = match e {
        HostUpgradeError::Rollback(crate::RollbackError::NotLoaded(_)) => ErrorKind::NotFound,
        _ => ErrorKind::Refused,
    };
    error(kind, e.to_string())
}

fn dispatch(host: &HostHandle, command: Command, out: &mut UnixStream) -> Response {
    let current = |m: &str| host.code().current(m).map(|v| v.version().to_string());
    match command {
        Command::Status => Response::Done(Output::Status {
            modules: host.code().modules().iter().filter_map(|m| module_view(host, m)).collect(),
            actors: host.actor_views(),
            trees: host.tree_views(),
            workers: host.worker_count(),
        }),
        Command::Which { module } => match module_view(host, &module) {
            Some(m) => Response::Done(Output::Which { module: m }),
            None => error(ErrorKind::NotFound, format!("module `{module}` is not loaded")),
        },
        Command::History { module } => Response::Done(Output::History {
            entries: host
                .code()
                .history(module.as_deref())
                .into_iter()
                .map(|h| HistoryView {
                    at: h.at.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
                    module: h.module,
                    action: format!("{:?}", h.action).to_lowercase(),
                    from: h.from,
                    to: h.to,
                    refused: h.refused,
                    duration_us: h.duration.as_micros() as u64,
                })
                .collect(),
        }),
        Command::Upgrade { module, path, mode, timeout_ms, force, purge } => {
            let total = host.actors_of(&module);
            let done = Arc::new(AtomicUsize::new(0));
            let mode = match mode {
                Mode::Atomic => UpgradeMode::Atomic,
                Mode::Gradual { count, percent } => UpgradeMode::Gradual(match (count, percent) {
                    (Some(n), _) => Canary::Count(n),
                    (None, Some(p)) => Canary::Percent(p),
                    (None, None) => Canary::Percent(10),
                }),
            };
            let opts = HostUpgradeOptions::new()
                .mode(mode)
                .suspend_timeout(Duration::from_millis(timeout_ms.unwrap_or(5000)))
                .force(force)
                .purge(purge)
                .progress(Arc::clone(&done));
            // Report progress every 50 ms while the upgrade runs.
            let finished = Arc::new(AtomicBool::new(false));
            let reporter = out.try_clone().ok().map(|mut w| {
                let (done, finished) = (Arc::clone(&done), Arc::clone(&finished));
                std::thread::spawn(move || {
                    // ORDERING: display counters.
                    while !finished.load(Ordering::Relaxed) {
                        let d = done.load(Ordering::Relaxed);
                        if total > 0
                            && send(&mut w, &Response::Progress { done: d, total }).is_err()
                        {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(50));
                    }
                })
            });
            let result = host.upgrade_with(&module, path.as_str(), opts);
            // ORDERING: as above.
            finished.store(true, Ordering::Relaxed);
            if let Some(r) = reporter {
                let _ = r.join();
            }
            match result {
                Ok(r) => Response::Done(migration(&r, current(&module), vec![module])),
                Err(e) => upgrade_error(&e),
            }
        }
        Command::Promote { module } => match host.promote(&module) {
            Ok(r) => Response::Done(migration(&r, current(&module), vec![module])),
            Err(e) => upgrade_error(&e),
        },
        Command::Abort { module } => match host.abort(&module) {
            Ok(r) => Response::Done(migration(&r, current(&module), vec![module])),
            Err(e) => upgrade_error(&e),
        },
        Command::Rollback { module } => match host.rollback(&module) {
            Ok(r) => Response::Done(migration(&r, current(&module), vec![module])),
            Err(e) => upgrade_error(&e),
        },
        Command::Purge { module, soft } => {
            let result = if soft { host.code().soft_purge(&module) } else { host.purge(&module) };
            match result {
                Ok(r) => Response::Done(Output::Purged { purged: r.purged.map(|v| v.to_string()) }),
                Err(crate::PurgeError::NotLoaded(m)) => {
                    error(ErrorKind::NotFound, format!("module `{m}` is not loaded"))
                }
                Err(e) => error(ErrorKind::Refused, e.to_string()),
            }
        }
    }
}

impl HostHandle {
    /// Register a supervision tree for `status`; it is dropped from the list
    /// once its `view` returns `None`.
    pub fn register_tree(&self, source: Arc<dyn protocol::TreeSource>) {
        self.shared.trees.lock().push(source);
    }

    fn tree_views(&self) -> Vec<protocol::TreeView> {
        let mut trees = self.shared.trees.lock();
        let mut views = Vec::new();
        trees.retain(|t| match t.view() {
            Some(v) => {
                views.push(v);
                true
            }
            None => false,
        });
        views
    }

    /// Every live actor, for `status`.
    fn actor_views(&self) -> Vec<ActorView> {
        self.shared.actor_views()
    }

    fn worker_count(&self) -> usize {
        self.shared.worker_count()
    }
}
