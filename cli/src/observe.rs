//! `relive observe`: the observer page for a host in another process,
//! read through its admin socket with the CLI's checked client (the
//! socket's directory and peer are checked on every connection, as for
//! every other command).

use crate::client::Client;
use relive_observer::{Observer, ObserverOptions, Source, SourceError};
use relive_runtime::admin::protocol::{Command, Response};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// The host behind an admin socket, one checked connection per request.
struct Checked {
    socket: PathBuf,
}

impl Source for Checked {
    fn request(&self, command: Command) -> Result<Response, SourceError> {
        let what = self.socket.display().to_string();
        let mut client = Client::connect(&self.socket).map_err(|e| SourceError::Io {
            what: what.clone(),
            source: std::io::Error::other(e),
        })?;
        client.request(command, |_, _| {}).map_err(|source| SourceError::Io { what, source })
    }

    fn describe(&self) -> String {
        self.socket.display().to_string()
    }
}

/// Serve until the process is stopped.
pub(crate) fn run(socket: &Path, port: u16, addr: IpAddr, allow_non_loopback: bool) -> ExitCode {
    let source = Checked { socket: socket.to_owned() };
    // Reach the host once first: a wrong socket is an error now, not a
    // page full of errors later.
    if let Err(e) = source.request(Command::Status) {
        eprintln!("relive: cannot reach a host at {}: {e}", socket.display());
        return ExitCode::from(crate::EXIT_CONNECT);
    }
    let options =
        ObserverOptions::default().addr(addr).port(port).allow_non_loopback(allow_non_loopback);
    match Observer::serve_source(Arc::new(source), options) {
        Ok(server) => {
            println!("observer: {}", server.url());
            println!("serving {} until stopped (Ctrl-C)", socket.display());
            server.wait();
            ExitCode::SUCCESS
        }
        Err(e) => {
            let cause = std::error::Error::source(&e).map(|c| format!(": {c}")).unwrap_or_default();
            eprintln!("relive: {e}{cause}");
            ExitCode::from(2)
        }
    }
}
