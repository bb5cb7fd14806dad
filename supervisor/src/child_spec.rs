//! Child specifications and their validation.

use crate::strategy::Exit;
use std::collections::HashSet;
use std::time::Duration;

/// When a child is restarted (OTP's `restart` of a child spec).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Restart {
    /// Always restarted.
    #[default]
    Permanent,
    /// Restarted only after an abnormal exit (not `normal` or `shutdown`).
    Transient,
    /// Never restarted.
    Temporary,
}

impl Restart {
    /// Whether a child with this restart type that exited with `exit` is
    /// restarted, as OTP's `supervisor` documents it.
    pub fn should_restart(self, exit: Exit) -> bool {
        match self {
            Restart::Permanent => true,
            Restart::Transient => exit == Exit::Abnormal,
            Restart::Temporary => false,
        }
    }
}

/// How a child is stopped (OTP's `shutdown`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// Killed at once; it cannot clean up.
    BrutalKill,
    /// Asked to stop (`shutdown`), killed if still alive after this long.
    Timeout(Duration),
    /// Asked to stop, waited for as long as it takes (for supervisors).
    Infinity,
}

impl Default for Shutdown {
    /// OTP's default for workers: 5 seconds.
    fn default() -> Self {
        Shutdown::Timeout(Duration::from_secs(5))
    }
}

/// Whether a child is a worker or a supervisor (OTP's `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChildKind {
    /// A worker.
    #[default]
    Worker,
    /// A supervisor (its own tree).
    Supervisor,
}

/// A child specification. How the child is started (a module name and
/// init arguments, or a host-native actor) is up to the supervisor that
/// runs it; this is everything OTP's semantics need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildSpec {
    /// Unique within its supervisor.
    pub id: String,
    /// When it is restarted.
    pub restart: Restart,
    /// How it is stopped.
    pub shutdown: Shutdown,
    /// Worker or supervisor.
    pub kind: ChildKind,
    /// The modules it runs (for upgrades and crash-loop rollback).
    pub modules: Vec<String>,
}

impl ChildSpec {
    /// A permanent worker with the default shutdown, running `modules`.
    pub fn worker(id: impl Into<String>, modules: &[&str]) -> Self {
        ChildSpec {
            id: id.into(),
            restart: Restart::Permanent,
            shutdown: Shutdown::default(),
            kind: ChildKind::Worker,
            modules: modules.iter().map(|m| (*m).to_owned()).collect(),
        }
    }

    /// A permanent supervisor child (shutdown `infinity`, as OTP defaults).
    pub fn supervisor(id: impl Into<String>) -> Self {
        ChildSpec {
            id: id.into(),
            restart: Restart::Permanent,
            shutdown: Shutdown::Infinity,
            kind: ChildKind::Supervisor,
            modules: Vec::new(),
        }
    }

    /// Set the restart type.
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// Set the shutdown.
    pub fn shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = shutdown;
        self
    }
}

/// Why a set of child specs was refused (OTP's `check_childspecs` reasons).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChildSpecError {
    /// A child without an id.
    #[error("a child spec has an empty id")]
    EmptyId,
    /// Two children with the same id (OTP's `duplicate_child_name`).
    #[error("duplicate child id `{0}`")]
    DuplicateId(String),
    /// A shutdown timeout of zero (use `BrutalKill` to kill at once).
    #[error("child `{0}`: a shutdown timeout must be positive (use BrutalKill)")]
    ZeroShutdown(String),
    /// An empty module name in `modules`.
    #[error("child `{0}`: empty module name")]
    EmptyModule(String),
}

/// Check every spec, and the set as a whole, before anything starts.
///
/// # Errors
/// The first [`ChildSpecError`] found, in spec order.
pub fn validate(specs: &[ChildSpec]) -> Result<(), ChildSpecError> {
    let mut seen = HashSet::new();
    for s in specs {
        if s.id.is_empty() {
            return Err(ChildSpecError::EmptyId);
        }
        if !seen.insert(s.id.as_str()) {
            return Err(ChildSpecError::DuplicateId(s.id.clone()));
        }
        if s.shutdown == Shutdown::Timeout(Duration::ZERO) {
            return Err(ChildSpecError::ZeroShutdown(s.id.clone()));
        }
        if s.modules.iter().any(String::is_empty) {
            return Err(ChildSpecError::EmptyModule(s.id.clone()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_types_against_exit_kinds() {
        // The OTP matrix: {permanent, transient, temporary} × {normal, shutdown, abnormal}.
        let table = [
            (Restart::Permanent, [true, true, true]),
            (Restart::Transient, [false, false, true]),
            (Restart::Temporary, [false, false, false]),
        ];
        for (restart, expected) in table {
            let got =
                [Exit::Normal, Exit::Shutdown, Exit::Abnormal].map(|e| restart.should_restart(e));
            assert_eq!(got, expected, "{restart:?}");
        }
    }

    #[test]
    fn specs_are_validated_up_front() {
        let ok = [ChildSpec::worker("a", &["counter"]), ChildSpec::supervisor("b")];
        assert_eq!(validate(&ok), Ok(()));
        let dup = [ChildSpec::worker("a", &[]), ChildSpec::worker("a", &[])];
        assert_eq!(validate(&dup), Err(ChildSpecError::DuplicateId("a".into())));
        assert_eq!(validate(&[ChildSpec::worker("", &[])]), Err(ChildSpecError::EmptyId));
        let zero = ChildSpec::worker("z", &[]).shutdown(Shutdown::Timeout(Duration::ZERO));
        assert_eq!(validate(&[zero]), Err(ChildSpecError::ZeroShutdown("z".into())));
        assert_eq!(
            validate(&[ChildSpec::worker("m", &[""])]),
            Err(ChildSpecError::EmptyModule("m".into()))
        );
    }

    #[test]
    fn defaults_are_otps() {
        let w = ChildSpec::worker("w", &[]);
        assert_eq!(
            (w.restart, w.shutdown, w.kind),
            (Restart::Permanent, Shutdown::Timeout(Duration::from_secs(5)), ChildKind::Worker)
        );
        let s = ChildSpec::supervisor("s");
        assert_eq!((s.shutdown, s.kind), (Shutdown::Infinity, ChildKind::Supervisor));
    }
}
