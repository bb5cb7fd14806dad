//! A connection to a host's admin socket.

use relive_runtime::admin::protocol::{Command, PROTOCOL_VERSION, Request, Response};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// One connection.
pub(crate) struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Client {
    pub(crate) fn connect(path: &Path) -> io::Result<Self> {
        let stream = UnixStream::connect(path)?;
        Ok(Client { writer: stream.try_clone()?, reader: BufReader::new(stream) })
    }

    /// Send `command`; call `progress(done, total)` for each progress line;
    /// return the final answer.
    pub(crate) fn request(
        &mut self,
        command: Command,
        mut progress: impl FnMut(usize, usize),
    ) -> io::Result<Response> {
        let mut line = serde_json::to_vec(&Request { version: PROTOCOL_VERSION, command })
            .map_err(io::Error::other)?;
        line.push(b'\n');
        // A host that refuses us (another user) answers and closes at once,
        // possibly before our request is written: a failed write is then
        // not the end, the host's answer may be waiting to be read.
        let written = self.writer.write_all(&line).and_then(|()| self.writer.flush());
        loop {
            let mut answer = String::new();
            let read = self.reader.read_line(&mut answer);
            if matches!(read, Ok(0) | Err(_)) {
                // Nothing to read: report the write's error if it failed.
                written?;
                read?;
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the host closed the connection",
                ));
            }
            match serde_json::from_str::<Response>(&answer) {
                Ok(Response::Progress { done, total }) => progress(done, total),
                Ok(other) => return Ok(other),
                Err(e) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("bad answer: {e}"),
                    ));
                }
            }
        }
    }
}
