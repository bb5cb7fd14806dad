//! Where the observer reads a host: anything that answers admin commands.
//!
//! The page shows the admin protocol's views (status, history, events,
//! `sys` state and statistics) and acts through its commands (promote,
//! abort), so one trait covers a host in this process ([`HostHandle`],
//! through [`HostHandle::answer_admin`]) and a host in another process
//! ([`AdminSocket`], through its admin socket; `relive observe` brings its
//! own, with the CLI's socket checks).

use relive_runtime::HostHandle;
use relive_runtime::admin::protocol::{Command, Output, PROTOCOL_VERSION, Request, Response};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

/// A source could not be asked (the host's own refusals are answers, not
/// errors: [`Response::Error`]).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Talking to the host failed.
    #[error("cannot talk to the host at {what}")]
    Io {
        /// The host (a socket path).
        what: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The host answered something that is not the admin protocol.
    #[error("the host at {what} answered garbage")]
    Protocol {
        /// The host (a socket path).
        what: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
}

/// Something that answers admin commands for the observer. Called from
/// blocking threads; a call may wait (an `Events` request waits up to its
/// `wait_ms`).
pub trait Source: Send + Sync + 'static {
    /// Answer `command` (a host's refusal is `Ok(Response::Error { .. })`).
    ///
    /// # Errors
    /// [`SourceError`] when the host could not be asked at all.
    fn request(&self, command: Command) -> Result<Response, SourceError>;

    /// What the page names as its host (e.g. `in-process host`, a socket path).
    fn describe(&self) -> String;

    /// The host's metrics in the Prometheus text format, served at
    /// `/metrics` (token-checked). By default the admin command `Metrics`
    /// asks for them; `None`: the host has none to give (one built before
    /// metrics answers the command with an error), and `/metrics` answers
    /// 404.
    ///
    /// # Errors
    /// [`SourceError`] when the host could not be asked.
    fn metrics(&self) -> Option<Result<String, SourceError>> {
        match self.request(Command::Metrics) {
            Ok(Response::Done(Output::Metrics { text })) => Some(Ok(text)),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

impl Source for HostHandle {
    fn request(&self, command: Command) -> Result<Response, SourceError> {
        Ok(self.answer_admin(command))
    }

    // issue 16: metrics — read directly, without the protocol's JSON.
    fn metrics(&self) -> Option<Result<String, SourceError>> {
        Some(Ok(self.metrics_text()))
    }

    fn describe(&self) -> String {
        format!("in-process host (pid {})", std::process::id())
    }
}

/// A host in another process, asked through its admin socket (one
/// connection per request). It trusts the path it is given; `relive
/// observe` uses the CLI's checked client instead.
#[derive(Debug, Clone)]
pub struct AdminSocket {
    path: PathBuf,
}

impl AdminSocket {
    /// The host whose admin socket is at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        AdminSocket { path: path.into() }
    }
}

/// The longest a socket request may take (an `Events` wait included).
const SOCKET_TIMEOUT: Duration = Duration::from_secs(30);

impl Source for AdminSocket {
    fn request(&self, command: Command) -> Result<Response, SourceError> {
        let what = self.path.display().to_string();
        let io = |source| SourceError::Io { what: what.clone(), source };
        let stream = UnixStream::connect(&self.path).map_err(io)?;
        stream.set_read_timeout(Some(SOCKET_TIMEOUT)).map_err(io)?;
        let mut line = serde_json::to_vec(&Request { version: PROTOCOL_VERSION, command })
            .map_err(|source| SourceError::Protocol { what: what.clone(), source })?;
        line.push(b'\n');
        (&stream).write_all(&line).map_err(io)?;
        let mut reader = BufReader::new(stream);
        loop {
            let mut answer = String::new();
            if reader.read_line(&mut answer).map_err(io)? == 0 {
                return Err(io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the host closed the connection",
                )));
            }
            match serde_json::from_str::<Response>(&answer) {
                Ok(Response::Progress { .. }) => {}
                Ok(r) => return Ok(r),
                Err(source) => return Err(SourceError::Protocol { what, source }),
            }
        }
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }
}
