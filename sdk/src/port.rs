//! Doing I/O: requests to the host's ports (issue 15: port).
//!
//! A module owns no runtime, thread or socket; the host does. The host
//! registers named async services, *ports* (a database writer, an HTTP
//! client), and a handler asks one for work with [`Context::request`]: the
//! request is queued and the handler returns at once, never blocking the
//! worker. The port's answer comes back later to the same actor as a call of
//! [`Module::on_reply`](crate::Module::on_reply) with the request's
//! [`RequestId`]; a call being handled can be answered then, through
//! [`Context::defer_reply`] and [`Context::reply`].
//!
//! # Upgrade behaviour
//! A reply reaches whichever version the actor runs when it arrives: an
//! upgrade does not wait for requests in flight. Keep what a reply needs
//! (the reply token, the request's purpose) in the state, keyed by
//! [`RequestId`], so a new version finds it; [`PortResult::decode`] checks
//! the response's schema against the type the running version asks for.
//!
//! ```
//! use relive_sdk::{Context, Module, ModuleError, PortResult, RequestId};
//! use postcard_schema::Schema;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Schema)]
//! pub struct Fetcher { last: Option<String>, failures: u64 }
//!
//! impl Module for Fetcher {
//!     const NAME: &'static str = "fetcher";
//!     type Args = ();
//!     type Msg = String; // a URL
//!     type Reply = bool; // sent?
//!     fn init(_: (), _: &mut Context<'_>) -> Result<Self, ModuleError> {
//!         Ok(Fetcher { last: None, failures: 0 })
//!     }
//!     fn handle(&mut self, url: String, ctx: &mut Context<'_>) -> bool {
//!         // The host registered `http_get: String -> String`.
//!         ctx.request::<String, String>("http_get", &url).is_ok()
//!     }
//!     fn on_reply(&mut self, _: RequestId, result: PortResult<'_>, _: &mut Context<'_>) {
//!         match result.decode::<String>() {
//!             Ok(body) => self.last = Some(body),
//!             Err(_timeout_failed_or_panicked) => self.failures += 1,
//!         }
//!     }
//! }
//! # let _ = relive_sdk::declaration!(Fetcher);
//! ```
//!
//! A host runs this round trip in the `relive` crate's doctest ("Doing I/O:
//! ports") and in docs/guide.md.

use crate::Context;
use crate::abi::port_outcome;
use postcard_schema::Schema;
use relive_codec::Fingerprint;
use serde::{Serialize, de::DeserializeOwned};
use std::time::Duration;

/// How long a request waits for its port unless told otherwise
/// ([`Context::request_with_timeout`]).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest timeout a request may have; a longer one is cut to this
/// (every wait is bounded).
pub const MAX_REQUEST_TIMEOUT: Duration = Duration::from_secs(3600);

/// A port request's id, unique in its host: plain data, so a module can keep
/// it in its state (across upgrades, too).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize, Schema,
)]
pub struct RequestId(pub u64);

/// Why [`Context::request`] did not send a request (nothing was queued; no
/// reply will come).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The host has no port registered under this name.
    #[error("no port named {0:?}")]
    NoSuchPort(String),
    /// The request or response type is not the port's.
    #[error("the request or response type is not the one port {0:?} takes")]
    SchemaMismatch(String),
    /// Called outside an actor's handler (e.g. in `init`).
    #[error("not inside an actor")]
    NotInActor,
    /// The host has as many requests in flight as it allows.
    #[error("too many port requests in flight")]
    TooManyRequests,
    /// The host is too old to have ports.
    #[error("the host does not offer ports")]
    Unsupported,
    /// The request could not be encoded.
    #[error("encode failed: {0}")]
    Encode(String),
    /// A status this SDK does not know.
    #[error("unknown host status {0}")]
    Unknown(i32),
}

/// How a port request failed, as [`Module::on_reply`](crate::Module::on_reply)
/// sees it. Every failure of the port (an error, a panic, a timeout) is one
/// of these, never a crash of the actor or the host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PortError {
    /// The port did not answer within the request's timeout (its work is
    /// cancelled; a late answer is dropped).
    #[error("the port did not answer in time")]
    Timeout,
    /// The port returned an error; its message.
    #[error("the port failed: {0}")]
    Failed(String),
    /// The port's future panicked; the panic message. The host keeps
    /// running.
    #[error("the port panicked: {0}")]
    Panicked(String),
    /// The port's task was dropped before it answered (its runtime shut
    /// down).
    #[error("the port's task was cancelled: {0}")]
    Cancelled(String),
    /// The response's type is not the one asked for: `expected` is the
    /// fingerprint of the type given to [`PortResult::decode`], `found` the
    /// port's (e.g. a version that changed the type got a reply to a
    /// request an older version made).
    #[error("the response type is not the port's (expected {expected}, the port's is {found})")]
    SchemaMismatch {
        /// The type the module asked for.
        expected: Fingerprint,
        /// The port's response type.
        found: Fingerprint,
    },
    /// The response bytes did not decode.
    #[error("the response did not decode: {0}")]
    Decode(String),
    /// An outcome code this SDK does not know.
    #[error("unknown port outcome {0}")]
    Unknown(u32),
}

/// The answer to a port request, borrowed for the call of
/// [`Module::on_reply`](crate::Module::on_reply).
#[derive(Debug, Clone)]
pub struct PortResult<'a> {
    outcome: Result<(Fingerprint, &'a [u8]), PortError>,
}

impl<'a> PortResult<'a> {
    pub(crate) fn from_abi(outcome: u32, schema: Fingerprint, bytes: &'a [u8]) -> Self {
        let text = || String::from_utf8_lossy(bytes).into_owned();
        let outcome = match outcome {
            port_outcome::OK => Ok((schema, bytes)),
            port_outcome::FAILED => Err(PortError::Failed(text())),
            port_outcome::PANICKED => Err(PortError::Panicked(text())),
            port_outcome::TIMEOUT => Err(PortError::Timeout),
            port_outcome::CANCELLED => Err(PortError::Cancelled(text())),
            other => Err(PortError::Unknown(other)),
        };
        PortResult { outcome }
    }

    /// Whether the port answered (its response may still be of another type
    /// than the one [`decode`](Self::decode) is asked for).
    pub fn is_ok(&self) -> bool {
        self.outcome.is_ok()
    }

    /// The port's failure, if it failed.
    pub fn error(&self) -> Option<&PortError> {
        self.outcome.as_ref().err()
    }

    /// The response, decoded as `T`.
    ///
    /// # Errors
    /// The port's failure ([`PortError::Timeout`], [`PortError::Failed`],
    /// [`PortError::Panicked`], [`PortError::Cancelled`]);
    /// [`PortError::SchemaMismatch`] when `T` is not the port's response
    /// type; [`PortError::Decode`] when the bytes do not decode.
    pub fn decode<T: DeserializeOwned + Schema>(&self) -> Result<T, PortError> {
        let (found, bytes) = self.outcome.clone()?;
        let expected = Fingerprint::of::<T>();
        if expected != found {
            return Err(PortError::SchemaMismatch { expected, found });
        }
        relive_codec::decode(bytes).map_err(|e| PortError::Decode(e.to_string()))
    }
}

impl Context<'_> {
    /// Send `req` to the host's port `port`, to be answered within
    /// [`DEFAULT_REQUEST_TIMEOUT`]. Returns at once with the request's id;
    /// the answer (the port's `Resp`, or how it failed) comes later to this
    /// actor as a call of [`Module::on_reply`](crate::Module::on_reply) with
    /// that id — exactly once per request that was sent. A handler that must
    /// answer its caller with the port's result defers its reply
    /// ([`defer_reply`](Self::defer_reply)) and answers from `on_reply`.
    ///
    /// `Req` and `Resp` are checked against the types the port was
    /// registered with, now.
    ///
    /// # Errors
    /// [`RequestError`]: no such port, a type that is not the port's, not in
    /// an actor, too many requests in flight, an older host. Nothing was
    /// sent and no reply will come.
    ///
    /// # Upgrade behaviour
    /// The reply reaches the version the actor runs when it arrives.
    pub fn request<Req: Serialize + Schema, Resp: Schema>(
        &mut self,
        port: &str,
        req: &Req,
    ) -> Result<RequestId, RequestError> {
        self.request_with_timeout::<Req, Resp>(port, req, DEFAULT_REQUEST_TIMEOUT)
    }

    /// [`request`](Self::request) with its own timeout (at most
    /// [`MAX_REQUEST_TIMEOUT`]): when the port has not answered by then, its
    /// work is cancelled and `on_reply` gets [`PortError::Timeout`].
    ///
    /// # Errors
    /// As [`request`](Self::request).
    pub fn request_with_timeout<Req: Serialize + Schema, Resp: Schema>(
        &mut self,
        port: &str,
        req: &Req,
        timeout: Duration,
    ) -> Result<RequestId, RequestError> {
        use crate::abi::service_status as s;
        let mut bytes = Vec::new();
        relive_codec::encode_into(req, &mut bytes)
            .map_err(|e| RequestError::Encode(e.to_string()))?;
        let schemas = (Fingerprint::of::<Req>().to_u64(), Fingerprint::of::<Resp>().to_u64());
        let ms = u64::try_from(timeout.min(MAX_REQUEST_TIMEOUT).as_millis()).unwrap_or(u64::MAX);
        let mut id = 0;
        match crate::abi::request(port, schemas, &bytes, ms.max(1), &mut id) {
            s::OK => Ok(RequestId(id)),
            s::NO_PORT => Err(RequestError::NoSuchPort(port.to_owned())),
            s::SCHEMA_MISMATCH => Err(RequestError::SchemaMismatch(port.to_owned())),
            s::NOT_IN_ACTOR => Err(RequestError::NotInActor),
            s::TOO_MANY_REQUESTS => Err(RequestError::TooManyRequests),
            crate::abi::UNSUPPORTED => Err(RequestError::Unsupported),
            other => Err(RequestError::Unknown(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{PortError, PortResult};
    use crate::abi::port_outcome;
    use relive_codec::Fingerprint;

    #[test]
    fn every_outcome_code_is_its_own_port_error() {
        let fp = Fingerprint::of::<u64>();
        let err = |code, bytes: &[u8]| PortResult::from_abi(code, fp, bytes).decode::<u64>();
        assert_eq!(err(port_outcome::FAILED, b"db down"), Err(PortError::Failed("db down".into())));
        assert_eq!(err(port_outcome::PANICKED, b"boom"), Err(PortError::Panicked("boom".into())));
        assert_eq!(err(port_outcome::TIMEOUT, b""), Err(PortError::Timeout));
        assert_eq!(err(port_outcome::CANCELLED, b"x"), Err(PortError::Cancelled("x".into())));
        assert_eq!(err(99, b""), Err(PortError::Unknown(99)));
    }

    #[test]
    fn a_response_decodes_only_as_the_ports_type() {
        let mut bytes = Vec::new();
        relive_codec::encode_into(&7u64, &mut bytes).unwrap();
        let ok = PortResult::from_abi(port_outcome::OK, Fingerprint::of::<u64>(), &bytes);
        assert_eq!(ok.decode::<u64>(), Ok(7));
        let wrong = ok.decode::<String>();
        assert!(matches!(wrong, Err(PortError::SchemaMismatch { .. })), "{wrong:?}");
    }
}
