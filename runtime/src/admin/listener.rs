//! The admin socket's listener: making the socket safely, accepting
//! connections, checking each peer, reading requests and writing answers.

use super::dispatch::dispatch;
use super::protocol::{ErrorKind, PROTOCOL_VERSION, Request, Response};
use crate::host::HostHandle;
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Longest request line accepted (a request is a few hundred bytes).
const MAX_LINE: u64 = 64 * 1024;

/// A running admin listener; dropping it stops it and removes the socket.
#[derive(Debug)]
pub struct AdminServer {
    path: PathBuf,
    /// The listening socket, to wake the accept loop without its path (the
    /// file may be gone).
    listener: UnixListener,
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
        // Wake the blocked `accept` through the socket itself: on Linux a
        // listening socket shut down for reading fails every `accept` at
        // once. Connecting to the path would hang the join below forever if
        // someone removed the socket file.
        let _ = rustix::net::shutdown(&self.listener, rustix::net::Shutdown::Read);
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
        let waker = listener.try_clone()?;
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
        Ok(AdminServer { path, listener: waker, stop, thread: Some(thread) })
    }
}

pub(super) fn send(out: &mut impl Write, r: &Response) -> io::Result<()> {
    let mut line = serde_json::to_vec(r).map_err(io::Error::other)?;
    line.push(b'\n');
    out.write_all(&line)?;
    out.flush()
}

pub(super) fn error(kind: ErrorKind, message: impl Into<String>) -> Response {
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
                dispatch(host, r.command, Some(&mut out))
            }
        };
        if send(&mut out, &answer).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::host::Host;
    use std::time::Duration;

    #[test]
    fn dropping_the_server_after_its_socket_file_was_removed_does_not_hang() {
        let dir = tempfile::tempdir().unwrap();
        // A directory of our own (the listener wants it 0700; it makes it).
        let path = dir.path().join("admin").join("admin.sock");
        let host = Host::builder().workers(1).build().unwrap();
        let server = host.handle().serve_admin(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(server);
            let _ = tx.send(());
        });
        assert!(rx.recv_timeout(Duration::from_secs(10)).is_ok(), "drop hung");
    }
}
