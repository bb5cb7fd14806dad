//! A child of a supervisor: its spec and how it starts.

use crate::ChildSpec;
use relive_runtime::codec::{Fingerprint, Schema};
use relive_runtime::{AnyActor, HostHandle, SpawnError};
use serde::Serialize;
use std::sync::Arc;

/// A function that starts a child on a host.
pub type StartFn = Arc<dyn Fn(&HostHandle) -> Result<AnyActor, SpawnError> + Send + Sync>;

/// A function that starts a `simple_one_for_one` child on a host from its
/// encoded extra arguments.
pub type TemplateFn = Arc<dyn Fn(&HostHandle, &[u8]) -> Result<AnyActor, SpawnError> + Send + Sync>;

/// How a child is started.
#[derive(Clone)]
pub enum ChildStart {
    /// An actor of a loaded module with these (encoded) init arguments.
    /// Restarted in place.
    Module {
        /// The module.
        module: String,
        /// Encoded init arguments.
        args: Vec<u8>,
        /// Their schema.
        args_schema: Fingerprint,
        /// Registered under this name, again at each restart (OTP's
        /// `start_link({local, Name}, ...)` in a child's start function).
        name: Option<String>,
    },
    /// Any actor, started by this function (a host-native actor, or a
    /// nested supervisor). A restart calls it again (a new actor).
    Native(StartFn),
    /// A `simple_one_for_one` template: each child is started by this
    /// function with the extra arguments given to
    /// [`Supervisor::start_simple_child`](crate::Supervisor::start_simple_child),
    /// encoded (OTP's `apply(M, F, A ++ ExtraArgs)`). Elsewhere it is
    /// called with none (`&[]`).
    Template(TemplateFn),
}

impl std::fmt::Debug for ChildStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChildStart::Module { module, .. } => {
                f.debug_struct("Module").field("module", module).finish()
            }
            ChildStart::Native(_) => f.write_str("Native"),
            ChildStart::Template(_) => f.write_str("Template"),
        }
    }
}

impl ChildStart {
    /// Start an actor of `module` with init `args`.
    ///
    /// # Panics
    /// When `args` cannot be encoded (a broken `Serialize` impl).
    pub fn module<A: Serialize + Schema>(module: &str, args: &A) -> Self {
        let mut bytes = Vec::new();
        relive_runtime::codec::encode_into(args, &mut bytes).expect("init arguments encode");
        ChildStart::Module {
            module: module.to_owned(),
            args: bytes,
            args_schema: Fingerprint::of::<A>(),
            name: None,
        }
    }

    /// [`module`](Self::module), registered under `name`: the child keeps
    /// its name across restarts (in place, or anew). A name taken by
    /// another actor fails the start (`StartError::AlreadyStarted`).
    ///
    /// # Panics
    /// When `args` cannot be encoded (a broken `Serialize` impl).
    pub fn module_named<A: Serialize + Schema>(module: &str, args: &A, name: &str) -> Self {
        match Self::module(module, args) {
            ChildStart::Module { module, args, args_schema, .. } => {
                ChildStart::Module { module, args, args_schema, name: Some(name.to_owned()) }
            }
            other => other,
        }
    }

    /// A `simple_one_for_one` template started by `f` with each child's
    /// encoded extra arguments (decode them with
    /// `relive_runtime::codec::decode`).
    pub fn template(
        f: impl Fn(&HostHandle, &[u8]) -> Result<AnyActor, SpawnError> + Send + Sync + 'static,
    ) -> Self {
        ChildStart::Template(Arc::new(f))
    }

    /// How a `simple_one_for_one` child of this template starts, with its
    /// encoded extra arguments: a module child takes them as its init
    /// arguments (a module's `init` takes one value, so the template's own
    /// arguments are not used); a template function is given them; a native
    /// function takes none.
    pub(crate) fn with_extra(&self, extra: Vec<u8>, schema: Fingerprint) -> ChildStart {
        match self {
            ChildStart::Module { module, name, .. } => ChildStart::Module {
                module: module.clone(),
                args: extra,
                args_schema: schema,
                name: name.clone(),
            },
            ChildStart::Template(f) => {
                let f = Arc::clone(f);
                ChildStart::Native(Arc::new(move |h| f(h, &extra)))
            }
            ChildStart::Native(f) => ChildStart::Native(Arc::clone(f)),
        }
    }

    /// Start a child with `f`.
    pub fn native(
        f: impl Fn(&HostHandle) -> Result<AnyActor, SpawnError> + Send + Sync + 'static,
    ) -> Self {
        ChildStart::Native(Arc::new(f))
    }
}

/// A child: its spec and how it starts.
#[derive(Debug, Clone)]
pub struct Child {
    /// OTP's child spec.
    pub spec: ChildSpec,
    /// How it starts.
    pub start: ChildStart,
}

impl Child {
    /// A child from its spec and start.
    pub fn new(spec: ChildSpec, start: ChildStart) -> Self {
        Child { spec, start }
    }
}
