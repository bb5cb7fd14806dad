//! issue 15: module dependencies — the modules a version says it calls
//! (`Module::DEPENDS`), checked whenever the set of current versions would
//! change:
//!
//! - a new version's dependencies must each be loaded, at a version that
//!   matches the semver requirement, with the message and reply types the
//!   dependant sends ([`LoadError::Dependency`]);
//! - a new version of a callee must still satisfy every loaded dependant
//!   that is not replaced in the same unit ([`LoadError::BreaksDependant`]);
//! - the modules of one unit (`upgrade_all`) are ordered callees first; a
//!   cycle among them is [`LoadError::DependencyCycle`].
//!
//! The check runs against the versions that *would* be current: the unit's
//! new versions over the table's current ones. It runs in the loader's
//! validation (before `on_load`) and again under the code server's lock at
//! commit, so a concurrent load cannot slip a broken pair in between.
//!
//! A rollback is checked the same way (the version it goes back to, over
//! the other current versions): rolling back only the callee of a pair
//! upgraded together would leave a pair that never ran, so it is refused
//! with `RollbackError::Dependency` unless forced — a supervisor's
//! crash-loop rollback, the way out of a bad upgrade, is forced.
//!
//! Not checked: actors still on an `old` version.

use super::error::LoadError;
use super::interface::{Part, Shape, extends};
use super::version::Version;
use crate::ffi::decl::DeclaredDependency;
use relive_codec::Fingerprint;
use std::collections::HashMap;
use std::sync::Arc;

/// Why a dependency is not met by a version of the callee.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DependencyProblem {
    /// The callee is not loaded.
    #[error("`{0}` is not loaded")]
    NotLoaded(String),
    /// The requirement is not a semver requirement.
    #[error("requirement `{requirement}` is not semver: {reason}")]
    BadRequirement {
        /// The requirement as declared.
        requirement: String,
        /// The parser's message.
        reason: String,
    },
    /// The callee's version does not match the requirement.
    #[error("needs `{callee}` {requirement}, found {found}")]
    Version {
        /// The callee.
        callee: String,
        /// The requirement.
        requirement: String,
        /// The callee's version.
        found: semver::Version,
    },
    /// The callee's message or reply type is not the one the dependant uses.
    #[error("`{callee}` {version}: {part} schema {found}, the dependant sends {expected}")]
    Interface {
        /// The callee.
        callee: String,
        /// The callee's version.
        version: semver::Version,
        /// Which type.
        part: Part,
        /// The dependant's fingerprint of it.
        expected: Fingerprint,
        /// The callee's.
        found: Fingerprint,
    },
}

/// One dependency a version declares, as the host reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// The callee.
    pub name: String,
    /// The semver requirement on its version.
    pub requirement: String,
    /// The message type the dependant sends.
    pub message: Fingerprint,
    /// The reply type it expects.
    pub reply: Fingerprint,
}

impl From<&DeclaredDependency> for Dependency {
    fn from(d: &DeclaredDependency) -> Self {
        Dependency {
            name: d.name.clone(),
            requirement: d.requirement.clone(),
            message: d.message_schema,
            reply: d.reply_schema,
        }
    }
}

/// Whether `callee` satisfies `dep`: its version matches the requirement
/// and its message and reply types extend the dependant's (the same types,
/// or the same variants with more appended: interfaces that grow).
///
/// The one place the interface rule of dependencies lives.
pub(crate) fn dependency_satisfied(
    dep: &Dependency,
    callee: &Version,
) -> Result<(), DependencyProblem> {
    let req = semver::VersionReq::parse(&dep.requirement).map_err(|e| {
        DependencyProblem::BadRequirement {
            requirement: dep.requirement.clone(),
            reason: e.to_string(),
        }
    })?;
    if !req.matches(callee.version()) {
        return Err(DependencyProblem::Version {
            callee: dep.name.clone(),
            requirement: dep.requirement.clone(),
            found: callee.version().clone(),
        });
    }
    for (part, expected) in [(Part::Message, dep.message), (Part::Reply, dep.reply)] {
        let theirs = Shape::of_version(callee, part);
        // The callee may have appended variants to what the dependant sends
        // (and to the replies it reads: one it does not know is a typed
        // decode error on its side, never a mis-decode).
        if extends(part, &Shape::Fixed(expected), &theirs, ("dependant", callee.name())).is_err() {
            return Err(DependencyProblem::Interface {
                callee: dep.name.clone(),
                version: callee.version().clone(),
                part,
                expected,
                found: theirs.fingerprint(),
            });
        }
    }
    Ok(())
}

/// Check a unit of new versions against the versions that would be current
/// with them: `current` are the table's current versions by module.
pub(crate) fn check_unit(
    unit: &[&Version],
    current: &HashMap<String, Arc<Version>>,
) -> Result<(), LoadError> {
    let in_unit = |name: &str| unit.iter().find(|v| v.name() == name).copied();
    let would_be = |name: &str| in_unit(name).or_else(|| current.get(name).map(|v| &**v));
    for new in unit {
        for dep in new.depends() {
            let problem = match would_be(&dep.name) {
                None => Some(DependencyProblem::NotLoaded(dep.name.clone())),
                Some(callee) => dependency_satisfied(dep, callee).err(),
            };
            if let Some(problem) = problem {
                return Err(LoadError::Dependency {
                    file: new.source_name(),
                    module: new.name().to_owned(),
                    version: new.version().to_string(),
                    dependency: dep.name.clone(),
                    problem: Box::new(problem),
                });
            }
        }
    }
    for (name, dependant) in current {
        if in_unit(name).is_some() {
            continue; // replaced in this unit: its new version was checked above
        }
        for dep in dependant.depends() {
            let Some(new) = in_unit(&dep.name) else { continue };
            if let Err(problem) = dependency_satisfied(dep, new) {
                return Err(LoadError::BreaksDependant {
                    file: new.source_name(),
                    module: new.name().to_owned(),
                    version: new.version().to_string(),
                    dependant: name.clone(),
                    problem: Box::new(problem),
                });
            }
        }
    }
    Ok(())
}

/// The order in which a unit's modules load: every module after the
/// modules of the unit it depends on (callees first), otherwise as given.
///
/// # Errors
/// [`LoadError::DependencyCycle`] naming the modules of a cycle.
pub(crate) fn order(unit: &[&Version]) -> Result<Vec<usize>, LoadError> {
    let index: HashMap<&str, usize> = unit.iter().enumerate().map(|(i, v)| (v.name(), i)).collect();
    // 0 = not visited, 1 = on the path, 2 = placed.
    let mut mark = vec![0u8; unit.len()];
    let mut out = Vec::with_capacity(unit.len());
    fn visit(
        i: usize,
        unit: &[&Version],
        index: &HashMap<&str, usize>,
        mark: &mut [u8],
        path: &mut Vec<usize>,
        out: &mut Vec<usize>,
    ) -> Result<(), Vec<usize>> {
        match mark[i] {
            2 => return Ok(()),
            1 => {
                let start = path.iter().position(|&p| p == i).unwrap_or(0);
                return Err(path[start..].to_vec());
            }
            _ => {}
        }
        mark[i] = 1;
        path.push(i);
        for dep in unit[i].depends() {
            if let Some(&j) = index.get(dep.name.as_str())
                && j != i
            {
                visit(j, unit, index, mark, path, out)?;
            }
        }
        path.pop();
        mark[i] = 2;
        out.push(i);
        Ok(())
    }
    for i in 0..unit.len() {
        let mut path = Vec::new();
        visit(i, unit, &index, &mut mark, &mut path, &mut out).map_err(|cycle| {
            LoadError::DependencyCycle {
                modules: cycle.iter().map(|&k| unit[k].name().to_owned()).collect(),
            }
        })?;
    }
    Ok(out)
}
