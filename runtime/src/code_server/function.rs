//! issue 17: stateless functions — what a version exports, and the one
//! check an upgrade passes: the new version still exports every function
//! of the running one, with the same argument and result types.

use super::version::Version;
use relive_codec::Fingerprint;

/// One function a version exports: its name and the fingerprints of its
/// argument and result types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSchema {
    /// The function's name.
    pub name: String,
    /// Fingerprint of the argument type.
    pub arg: Fingerprint,
    /// Fingerprint of the result type.
    pub result: Fingerprint,
}

/// Why a new version cannot replace the running one for a function's
/// callers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FunctionProblem {
    /// The running version exports it; the new one does not.
    #[error("the running version {running} exports it; the new version does not")]
    Missing {
        /// The running version.
        running: String,
    },
    /// The argument type changed.
    #[error("its argument type changed from {expected} to {found}")]
    ArgChanged {
        /// The running version's argument schema.
        expected: Fingerprint,
        /// The new version's.
        found: Fingerprint,
    },
    /// The result type changed.
    #[error("its result type changed from {expected} to {found}")]
    ResultChanged {
        /// The running version's result schema.
        expected: Fingerprint,
        /// The new version's.
        found: Fingerprint,
    },
}

/// The first function of `running` that `new` does not export with the
/// same types (in the running version's order): its name and the problem.
pub(crate) fn functions_kept(
    running: &Version,
    new: &Version,
) -> Result<(), (String, FunctionProblem)> {
    for f in running.declared_functions() {
        let Some(g) = new.declared_functions().iter().find(|g| g.name == f.name) else {
            let running = running.version().to_string();
            return Err((f.name.clone(), FunctionProblem::Missing { running }));
        };
        if g.arg_schema != f.arg_schema {
            let problem =
                FunctionProblem::ArgChanged { expected: f.arg_schema, found: g.arg_schema };
            return Err((f.name.clone(), problem));
        }
        if g.result_schema != f.result_schema {
            let problem = FunctionProblem::ResultChanged {
                expected: f.result_schema,
                found: g.result_schema,
            };
            return Err((f.name.clone(), problem));
        }
    }
    Ok(())
}
