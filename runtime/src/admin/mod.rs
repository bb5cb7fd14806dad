//! The admin socket: how the `relive` CLI talks to a running host.
//!
//! A host opts in with one line, [`HostHandle::serve_admin`]. The socket is
//! a Unix domain socket created with mode 0600 in a directory only the owner
//! can enter (created 0700 if missing; refused if others can enter it). A
//! path that exists and is not a stale socket of ours is never clobbered.
//! Every connection's peer uid is checked (`SO_PEERCRED`): any uid but the
//! host's is answered with `PermissionDenied` and logged. The protocol is in
//! [`protocol`]; every request gets an answer, a garbled one included.

mod dispatch;
mod listener;
pub mod protocol;

pub use listener::AdminServer;
