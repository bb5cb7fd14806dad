//! issue 17: the configuration sections the host delivers to modules.
//!
//! The host layer (`host/config`) turns a configuration into one encoded
//! section per module that asked for one; this layer keeps the section in
//! force for each module (so a version loaded later is checked against it
//! and receives it) and runs the modules' `on_config` — each call on a
//! thread of its own, bounded by [`ON_CONFIG_TIMEOUT`], as `on_load` is.
//!
//! A delivery is two-phase across every module it concerns: every
//! resident version (current and old) of every module is asked first
//! (`CHECK`), and only when all accept is the section recorded and applied
//! (`APPLY`). A refusal by any of them keeps every module's section as it
//! was. A load prepared against an older section is refused at its commit
//! (`Concurrent`), as a load that raced another load is.

use super::error::{LoadError, ModuleCallError};
use super::version::Version;
use super::{ModuleTable, Prepared};
use crate::ffi;
use parking_lot::Mutex;
use relive_codec::Fingerprint;
use relive_sdk::abi::config_flags;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// How long a version's `on_config` may run before it counts as a veto
/// (`ModuleCallError::TimedOut`).
pub const ON_CONFIG_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a configuration section was not delivered; every module keeps the
/// section it had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SectionError {
    /// The module reads a section of another schema than the host's type.
    #[error(
        "{module} {version} reads a configuration section of schema {declared}, the host delivers {delivered}"
    )]
    Schema {
        /// The module.
        module: String,
        /// The version.
        version: String,
        /// The fingerprint in its declaration.
        declared: Fingerprint,
        /// The fingerprint of the host's section type.
        delivered: Fingerprint,
    },
    /// The version's `on_config` refused the section (its error or panic),
    /// or did not answer within [`ON_CONFIG_TIMEOUT`].
    #[error("on_config of {module} {version} vetoed the configuration: {source}")]
    Vetoed {
        /// The module.
        module: String,
        /// The version.
        version: String,
        /// The module's reason.
        #[source]
        source: Box<ModuleCallError>,
    },
    /// Loads kept changing the module's versions while the section was
    /// being checked; nothing was delivered.
    #[error("the versions of {module} kept changing while its configuration section was checked")]
    Busy {
        /// The module.
        module: String,
    },
}

/// The section in force for one module.
#[derive(Debug, Clone)]
pub(crate) struct Section {
    schema: Fingerprint,
    bytes: Arc<[u8]>,
    /// Changes with every delivery (across modules).
    pub(crate) generation: u64,
}

/// The sections in force, by module.
#[derive(Debug, Default)]
pub(crate) struct Sections {
    map: Mutex<HashMap<String, Section>>,
    next: Mutex<u64>,
}

impl Sections {
    pub(crate) fn get(&self, module: &str) -> Option<Section> {
        self.map.lock().get(module).cloned()
    }
}

/// One section to deliver: the module, its schema, its encoding.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub(crate) module: String,
    pub(crate) schema: Fingerprint,
    pub(crate) bytes: Vec<u8>,
}

/// Run `on_config` of `v` with `flags`, on a thread of its own, for at most
/// [`ON_CONFIG_TIMEOUT`]. A version without the entry accepts.
fn on_config(v: &Arc<Version>, bytes: &Arc<[u8]>, flags: u32) -> Result<(), ModuleCallError> {
    if v.table().on_config.is_none() {
        return Ok(());
    }
    let (version, section) = (Arc::clone(v), Arc::clone(bytes));
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new().name("relive-on-config".into()).spawn(move || {
        let mut out = Vec::new();
        let code = ffi::calls::on_config(version.table(), &section, flags, &mut out);
        drop(version);
        let _ = tx.send((code, out));
    });
    let thread = spawned.map_err(|e| ModuleCallError::Failed {
        module: v.name().to_owned(),
        version: v.version_str().to_owned(),
        function: "on_config",
        message: format!("cannot start a thread for it: {e}"),
    })?;
    let answer = rx.recv_timeout(ON_CONFIG_TIMEOUT);
    if answer.is_ok() {
        // As for `on_load`: no half-exited thread of ours is left behind.
        let _ = thread.join();
    }
    match answer {
        Ok((None | Some(relive_sdk::abi::status::OK), _)) => Ok(()),
        Ok((Some(code), out)) => Err(ModuleCallError::from_status(v, "on_config", code, &out)),
        Err(_) => Err(ModuleCallError::TimedOut {
            module: v.name().to_owned(),
            version: v.version_str().to_owned(),
            function: "on_config",
            after: ON_CONFIG_TIMEOUT,
        }),
    }
}

/// Check `v` may receive `section` of `schema`: the schemas agree and its
/// `on_config` accepts.
fn check(v: &Arc<Version>, schema: Fingerprint, section: &Arc<[u8]>) -> Result<(), SectionError> {
    let Some(declared) = v.config_schema() else { return Ok(()) };
    if declared != schema {
        return Err(SectionError::Schema {
            module: v.name().to_owned(),
            version: v.version_str().to_owned(),
            declared,
            delivered: schema,
        });
    }
    on_config(v, section, config_flags::CHECK).map_err(|e| SectionError::Vetoed {
        module: v.name().to_owned(),
        version: v.version_str().to_owned(),
        source: Box::new(e),
    })
}

impl ModuleTable {
    /// Deliver sections to their modules, all or none (see the module
    /// docs). A section equal to the one in force is left alone.
    ///
    /// # Errors
    /// [`SectionError`]: a schema mismatch or a veto; nothing changed.
    pub(crate) fn deliver_sections(&self, all: Vec<Delivery>) -> Result<(), SectionError> {
        let changed: Vec<(Delivery, Arc<[u8]>)> = all
            .into_iter()
            .filter(|d| {
                self.sections
                    .get(&d.module)
                    .is_none_or(|s| s.schema != d.schema || *s.bytes != *d.bytes)
            })
            .map(|d| {
                let bytes: Arc<[u8]> = Arc::from(d.bytes.as_slice());
                (d, bytes)
            })
            .collect();
        if changed.is_empty() {
            return Ok(());
        }
        for _attempt in 0..3 {
            // Every resident version of every module concerned.
            let resident = |m: &str| -> Vec<Arc<Version>> {
                self.published
                    .load()
                    .get(m)
                    .map(|(c, o)| std::iter::once(Arc::clone(c)).chain(o.clone()).collect())
                    .unwrap_or_default()
            };
            let targets: Vec<Vec<Arc<Version>>> =
                changed.iter().map(|(d, _)| resident(&d.module)).collect();
            for ((d, bytes), versions) in changed.iter().zip(&targets) {
                for v in versions {
                    check(v, d.schema, bytes)?;
                }
            }
            // Record them, if the versions checked are still the resident ones.
            {
                let inner = self.inner.lock();
                let same = changed.iter().zip(&targets).all(|((d, _), versions)| {
                    let now: Vec<&Arc<Version>> = inner
                        .modules
                        .get(&d.module)
                        .map(|s| std::iter::once(&s.current).chain(s.old.as_ref()).collect())
                        .unwrap_or_default();
                    now.len() == versions.len()
                        && now.iter().zip(versions).all(|(a, b)| Arc::ptr_eq(a, b))
                });
                if !same {
                    continue;
                }
                let mut next = self.sections.next.lock();
                let mut map = self.sections.map.lock();
                for (d, bytes) in &changed {
                    *next += 1;
                    map.insert(
                        d.module.clone(),
                        Section { schema: d.schema, bytes: Arc::clone(bytes), generation: *next },
                    );
                }
            }
            // Apply: every version accepted it, so this only stores it.
            for ((_, bytes), versions) in changed.iter().zip(&targets) {
                for v in versions.iter().filter(|v| v.config_schema().is_some()) {
                    if let Err(e) = on_config(v, bytes, config_flags::APPLY) {
                        tracing::warn!(module = v.name(), version = v.version_str(), error = %e, "applying an accepted configuration section failed");
                    }
                }
            }
            return Ok(());
        }
        Err(SectionError::Busy { module: changed[0].0.module.clone() })
    }

    /// Check a new version against its module's section in force and give
    /// it the section (`CHECK | APPLY`), noting the section's generation on
    /// `p` for the commit's re-check. A version that reads no section, or a
    /// module without one, passes.
    pub(super) fn on_config_at_load(&self, p: &mut Prepared) -> Result<(), LoadError> {
        let Some(section) = self.sections.get(&p.name) else { return Ok(()) };
        let Some(declared) = p.new.config_schema() else { return Ok(()) };
        p.section_generation = Some(section.generation);
        let refused = |source| LoadError::Section { file: p.new.source_name(), source };
        if declared != section.schema {
            return Err(refused(SectionError::Schema {
                module: p.name.clone(),
                version: p.new.version_str().to_owned(),
                declared,
                delivered: section.schema,
            }));
        }
        on_config(&p.new, &section.bytes, config_flags::CHECK | config_flags::APPLY).map_err(|e| {
            refused(SectionError::Vetoed {
                module: p.name.clone(),
                version: p.new.version_str().to_owned(),
                source: Box::new(e),
            })
        })
    }

    /// Whether `p` was given the section now in force (for the commit).
    pub(super) fn section_current(&self, p: &Prepared) -> bool {
        if p.unchanged || p.new.config_schema().is_none() {
            return true;
        }
        self.sections.get(&p.name).map(|s| s.generation) == p.section_generation
    }
}
