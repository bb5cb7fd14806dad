//! issue 17: typed configuration, hot-reloaded.
//!
//! [`HostHandle::config`] reads a file (TOML, JSON or YAML by its
//! extension) into a serde type and watches it; every complete, valid new
//! content is swapped in atomically for every reader ([`Config::load`] is a
//! lock-free guard), and anything else — a file that does not parse, fails
//! validation, cannot be read or is gone — keeps the configuration in force
//! and is reported: a [`ConfigRefused`](crate::code_server::EventKind::ConfigRefused)
//! event, a tracing warning, [`Config::last_error`], and `relive config` /
//! `relive status` through the admin socket.
//!
//! The file's *directory* is watched (`notify`, non-recursive), so a file
//! replaced by an atomic rename, rewritten in place, or deleted and
//! recreated is seen alike. Changes are debounced ([`DEBOUNCE`]): the file
//! is read once it has been quiet that long (a file written in place and
//! not yet closed gets up to a second more), and a change during a read
//! makes another read, so the content a burst of writes ends with is the
//! one that wins. See docs/decisions/0022-config-reload.md.
//!
//! # A module's section
//!
//! A module that reads a section implements `relive_sdk::Configured`; the
//! host says which part of its configuration that is
//! ([`Config::deliver`]). The module's `on_config` may refuse a change
//! (for everyone), and its actors read the applied section on their turn:
//!
//! ```
//! use relive_runtime::Host;
//! use relive_sdk::{Configured, Context, Module, ModuleError};
//! use serde::{Deserialize, Serialize};
//! use postcard_schema::Schema;
//!
//! #[derive(Serialize, Deserialize, Schema)]
//! pub struct Pricing;
//!
//! #[derive(Serialize, Deserialize, Schema, Clone)]
//! pub struct PricingSection { margin_percent: u32 }
//!
//! impl Module for Pricing {
//!     const NAME: &'static str = "pricing";
//!     type Args = ();
//!     type Msg = u64;
//!     type Reply = u64;
//!     fn init((): (), _: &mut Context<'_>) -> Result<Self, ModuleError> { Ok(Pricing) }
//!     fn handle(&mut self, cost: u64, ctx: &mut Context<'_>) -> u64 {
//!         let margin = ctx.config::<PricingSection>().map_or(0, |s| s.margin_percent);
//!         cost + cost * u64::from(margin) / 100
//!     }
//! }
//!
//! impl Configured for Pricing {
//!     type Section = PricingSection;
//!     fn on_config(s: &PricingSection) -> Result<(), ModuleError> {
//!         if s.margin_percent > 50 { Err(ModuleError::new("a margin over 50% is a typo")) } else { Ok(()) }
//!     }
//! }
//!
//! // The host's whole configuration; `pricing` is the module's section.
//! #[derive(Deserialize)]
//! struct Settings { pricing: PricingSection }
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("settings.toml");
//! std::fs::write(&path, "[pricing]\nmargin_percent = 10\n")?;
//!
//! let host = Host::builder().workers(1).build()?;
//! // In a cdylib: `relive_sdk::export_module!(Pricing, configured);`
//! host.code_server().upgrade("pricing", relive_sdk::declaration!(Pricing, configured))?;
//! let quote: relive_runtime::ActorRef<u64, u64> = host.spawn("pricing", &())?;
//! let settings = host.config::<Settings>(&path)?;
//! settings.deliver("pricing", |s: &Settings| s.pricing.clone())?;
//! assert_eq!(quote.call(200)?, 220);
//!
//! // The module refuses 80 %: the configuration in force stays, for everyone.
//! std::fs::write(&path, "[pricing]\nmargin_percent = 80\n")?;
//! let refused = settings.reload().unwrap_err();
//! assert!(refused.to_string().contains("a margin over 50% is a typo"));
//! assert_eq!((settings.load().pricing.margin_percent, quote.call(200)?), (10, 220));
//!
//! // 20 % is accepted by the module, then swapped in for the host's readers.
//! std::fs::write(&path, "[pricing]\nmargin_percent = 20\n")?;
//! assert_eq!(settings.reload()?, 2);
//! assert_eq!(quote.call(200)?, 240);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod format;
mod watch;

pub use error::{BoxError, ConfigError};
pub use format::ConfigFormat;
pub use watch::DEBOUNCE;

use super::HostHandle;
use crate::code_server::{EventBus, EventKind};
use arc_swap::{ArcSwap, Guard};
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::SystemTime;

type Validator<T> = dyn Fn(&T) -> Result<(), BoxError> + Send + Sync;

/// Cuts a module's section out of a configuration and encodes it.
type Encoder<T> = dyn Fn(&T) -> Result<Vec<u8>, relive_codec::CodecError> + Send + Sync;

/// One module's section of a configuration.
struct Extract<T> {
    module: String,
    schema: relive_codec::Fingerprint,
    encode: Box<Encoder<T>>,
}

/// A configuration a host keeps current: the value of the last good
/// content of its file. Cheap to clone (all clones share one value); the
/// file stops being watched when the last clone is dropped.
///
/// ```
/// use relive_runtime::Host;
/// use serde::Deserialize;
///
/// #[derive(Deserialize)]
/// struct Limits { max_sessions: u32 }
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("limits.toml");
/// std::fs::write(&path, "max_sessions = 10\n")?;
///
/// let host = Host::builder().workers(1).build()?;
/// let limits = host.config_with::<Limits, _, _>(&path, |l| {
///     if l.max_sessions == 0 { Err("max_sessions must be at least 1") } else { Ok(()) }
/// })?;
/// assert_eq!(limits.load().max_sessions, 10);
/// assert_eq!(limits.revision(), 1);
///
/// // A refused file keeps the old value and says why.
/// std::fs::write(&path, "max_sessions = 0\n")?;
/// assert!(limits.reload().is_err());
/// assert_eq!(limits.load().max_sessions, 10);
/// assert!(limits.last_error().is_some());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Config<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for Config<T> {
    fn clone(&self) -> Self {
        Config { inner: Arc::clone(&self.inner) }
    }
}

impl<T> std::fmt::Debug for Config<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("path", &self.inner.path)
            .field("format", &self.inner.format)
            // ORDERING: a display value.
            .field("revision", &self.inner.revision.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// A refusal kept for [`Config::last_error`] and `relive config`.
#[derive(Debug, Clone)]
pub struct ConfigRefusal {
    /// When the file was refused.
    pub at: SystemTime,
    /// Why.
    pub error: Arc<ConfigError>,
}

/// What `relive config` shows of one configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigStatus {
    /// The file.
    pub path: PathBuf,
    /// Its format.
    pub format: ConfigFormat,
    /// Configurations applied so far (1: the one read at start).
    pub revision: u64,
    /// When the one in force was applied.
    pub applied_at: SystemTime,
    /// The last refusal since it was applied (`None`: the file on disk is
    /// the configuration in force).
    pub last_error: Option<String>,
    /// When that refusal happened.
    pub last_error_at: Option<SystemTime>,
}

/// What the host keeps of each configuration for its status (weakly: a
/// configuration nobody holds is gone from `relive config`).
pub(crate) trait ConfigSource: Send + Sync {
    fn status(&self) -> ConfigStatus;
}

struct Inner<T> {
    value: ArcSwap<T>,
    /// Applied configurations (the value's number).
    revision: AtomicU64,
    path: PathBuf,
    format: ConfigFormat,
    validate: Box<Validator<T>>,
    events: Arc<EventBus>,
    /// The host, for its module table and upgrade lock (weak: a
    /// configuration does not keep a host alive).
    host: Weak<super::HostShared>,
    /// The modules' sections, delivered with every change.
    extracts: Mutex<Vec<Extract<T>>>,
    /// One reload at a time (the watcher's and [`Config::reload`]); held
    /// while a change is delivered, which may wait for an upgrade.
    state: Mutex<State>,
    /// What `relive config` shows, kept apart from `state` so that a status
    /// never waits for a reload (nor, through it, for an upgrade): taken
    /// only to read or write these two fields.
    shown: Mutex<Shown>,
    /// The watcher; dropping it ends the watching thread.
    _watcher: Mutex<notify::RecommendedWatcher>,
}

struct State {
    /// The bytes of the configuration in force (an unchanged file is not a
    /// new revision).
    bytes: Vec<u8>,
}

/// When the configuration in force was applied, and the last refusal since.
struct Shown {
    applied_at: SystemTime,
    last_error: Option<ConfigRefusal>,
}

/// What one reload did.
enum Outcome {
    Applied(u64),
    Unchanged(u64),
}

/// Read, parse and validate the file (no state changes).
fn read<T: DeserializeOwned>(
    path: &Path,
    format: ConfigFormat,
    validate: &Validator<T>,
) -> Result<(Vec<u8>, T), ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => ConfigError::Missing { path: path.to_owned() },
        _ => ConfigError::Unreadable { path: path.to_owned(), source },
    })?;
    let value: T = format.parse(&bytes).map_err(|source| ConfigError::Parse {
        path: path.to_owned(),
        format,
        source,
    })?;
    let verdict = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| validate(&value)))
        .unwrap_or_else(|_| Err("the validation panicked".into()));
    verdict.map_err(|source| ConfigError::Invalid { path: path.to_owned(), source })?;
    Ok((bytes, value))
}

impl<T: DeserializeOwned + Send + Sync + 'static> Inner<T> {
    /// Read the file and, if it is good and new, swap it in; otherwise
    /// keep what is in force and report why.
    fn reload(&self) -> Result<Outcome, Arc<ConfigError>> {
        let mut state = self.state.lock();
        match read(&self.path, self.format, &*self.validate) {
            Ok((bytes, _)) if bytes == state.bytes => {
                // ORDERING: the revision is written under `state`'s lock.
                let revision = self.revision.load(Ordering::Acquire);
                if self.shown.lock().last_error.take().is_some() {
                    // Good again, as it was: no new revision, but say so.
                    tracing::info!(path = %self.path.display(), revision, "configuration file is good again (unchanged)");
                    self.events.emit(EventKind::ConfigApplied { path: self.path_text(), revision });
                }
                Ok(Outcome::Unchanged(revision))
            }
            Ok((bytes, value)) => {
                if let Err(e) = self.deliver(&value, &self.extracts.lock()) {
                    return Err(self.refuse(e));
                }
                self.value.store(Arc::new(value));
                // ORDERING: published after the value, so a reader that
                // sees revision n sees value n (or newer).
                let revision = self.revision.fetch_add(1, Ordering::AcqRel) + 1;
                *state = State { bytes };
                *self.shown.lock() = Shown { applied_at: SystemTime::now(), last_error: None };
                tracing::info!(path = %self.path.display(), revision, "configuration applied");
                self.events.emit(EventKind::ConfigApplied { path: self.path_text(), revision });
                Ok(Outcome::Applied(revision))
            }
            Err(e) => Err(self.refuse(e)),
        }
    }

    /// Report a refusal (the configuration in force stays).
    fn refuse(&self, e: ConfigError) -> Arc<ConfigError> {
        let e = Arc::new(e);
        let reason = error_chain(&*e);
        tracing::warn!(path = %self.path.display(), reason = %reason, "configuration refused; the previous one stays in force");
        self.shown.lock().last_error =
            Some(ConfigRefusal { at: SystemTime::now(), error: Arc::clone(&e) });
        self.events.emit(EventKind::ConfigRefused { path: self.path_text(), reason });
        e
    }

    /// Deliver `value`'s sections to their modules, all or none, holding
    /// the host's upgrade lock (an upgrade and a configuration change never
    /// interleave: a version loaded meanwhile is checked against one
    /// section or the other, never neither).
    fn deliver(&self, value: &T, extracts: &[Extract<T>]) -> Result<(), ConfigError> {
        if extracts.is_empty() {
            return Ok(());
        }
        let Some(host) = self.host.upgrade() else { return Ok(()) };
        let mut all = Vec::with_capacity(extracts.len());
        for x in extracts {
            let bytes = (x.encode)(value).map_err(|e| ConfigError::Invalid {
                path: self.path.clone(),
                source: format!("the section of module `{}` cannot be encoded: {e}", x.module)
                    .into(),
            })?;
            all.push(crate::code_server::Delivery {
                module: x.module.clone(),
                schema: x.schema,
                bytes,
            });
        }
        let _one_at_a_time = host.upgrades.lock.lock();
        host.table
            .deliver_sections(all)
            .map_err(|source| ConfigError::Section { path: self.path.clone(), source })
    }

    fn path_text(&self) -> String {
        self.path.display().to_string()
    }
}

impl<T: Send + Sync> ConfigSource for Inner<T> {
    fn status(&self) -> ConfigStatus {
        let shown = self.shown.lock();
        ConfigStatus {
            path: self.path.clone(),
            format: self.format,
            // ORDERING: Acquire pairs with the reload's AcqRel increment.
            revision: self.revision.load(Ordering::Acquire),
            applied_at: shown.applied_at,
            last_error: shown.last_error.as_ref().map(|r| error_chain(&*r.error)),
            last_error_at: shown.last_error.as_ref().map(|r| r.at),
        }
    }
}

/// An error and its causes, as one line (what events and `relive config` show).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

impl<T: DeserializeOwned + Send + Sync + 'static> Config<T> {
    /// The configuration in force: a cheap guard (no lock, no allocation;
    /// see `arc_swap::Guard`). Hold it for one unit of work, not across a
    /// long wait: a guard keeps its value alive, not current.
    pub fn load(&self) -> Guard<Arc<T>> {
        self.inner.value.load()
    }

    /// The configuration in force, as an `Arc` to keep.
    pub fn load_full(&self) -> Arc<T> {
        self.inner.value.load_full()
    }

    /// Configurations applied so far: 1 for the one read at start, one more
    /// for each new good content (an unchanged or refused file adds none).
    pub fn revision(&self) -> u64 {
        // ORDERING: pairs with the release in `reload`.
        self.inner.revision.load(Ordering::Acquire)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Its format.
    pub fn format(&self) -> ConfigFormat {
        self.inner.format
    }

    /// The last refusal since the configuration in force was applied.
    pub fn last_error(&self) -> Option<ConfigRefusal> {
        self.inner.shown.lock().last_error.clone()
    }

    /// What `relive config` shows of it.
    pub fn status(&self) -> ConfigStatus {
        self.inner.status()
    }

    /// Deliver a section of this configuration to module `module` from now
    /// on: `section` cuts it out of each new configuration, and the
    /// module's `on_config` (`relive_sdk::Configured`) checks it — for every
    /// resident version of the module, and for every version loaded later
    /// (at its load) — before it is applied; its actors read it with
    /// `ctx.config::<S>()`. `S` must be the module's `Configured::Section`
    /// (same schema fingerprint). A refusal by any module vetoes a new
    /// configuration for everyone.
    ///
    /// # Errors
    /// [`ConfigError::Section`]: a resident version reads another schema,
    /// or its `on_config` refused the section of the configuration in
    /// force (nothing is delivered then, now or later).
    pub fn deliver<S, F>(&self, module: &str, section: F) -> Result<(), Arc<ConfigError>>
    where
        S: serde::Serialize + relive_codec::Schema + 'static,
        F: Fn(&T) -> S + Send + Sync + 'static,
    {
        let inner = &self.inner;
        let _one_at_a_time = inner.state.lock();
        let x = Extract {
            module: module.to_owned(),
            schema: relive_codec::Fingerprint::of::<S>(),
            encode: Box::new(move |t: &T| {
                let mut buf = Vec::new();
                relive_codec::encode_into(&section(t), &mut buf).map(|()| buf)
            }),
        };
        let current = inner.value.load_full();
        if let Err(e) = inner.deliver(&current, std::slice::from_ref(&x)) {
            return Err(inner.refuse(e));
        }
        inner.extracts.lock().push(x);
        Ok(())
    }

    /// Read the file now (as the watcher does after a change) and return
    /// the revision in force afterwards.
    ///
    /// # Errors
    /// The file was refused (the [`ConfigError`] says why); the previous
    /// configuration stays in force, and the refusal is reported as the
    /// watcher's are.
    pub fn reload(&self) -> Result<u64, Arc<ConfigError>> {
        match self.inner.reload()? {
            Outcome::Applied(r) | Outcome::Unchanged(r) => Ok(r),
        }
    }
}

impl HostHandle {
    /// A configuration read from `path` and kept current as the file
    /// changes: TOML (`.toml`), JSON (`.json`) or YAML (`.yaml`, `.yml`),
    /// into `T`. Without validation; see [`config_with`](Self::config_with).
    ///
    /// # Errors
    /// As [`config_with`](Self::config_with).
    pub fn config<T>(&self, path: impl AsRef<Path>) -> Result<Config<T>, ConfigError>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        self.config_with(path, |_: &T| Ok::<(), BoxError>(()))
    }

    /// A configuration read from `path`, validated by `validate`, and kept
    /// current as the file changes: every new content that parses and that
    /// `validate` accepts is swapped in for every reader at once; anything
    /// else keeps the configuration in force (see the module docs).
    /// `validate` runs on the watching thread (and in
    /// [`Config::reload`]); a panic in it is a refusal.
    ///
    /// # Errors
    /// The file could not become the first configuration:
    /// [`ConfigError::UnknownFormat`], [`Missing`](ConfigError::Missing),
    /// [`Unreadable`](ConfigError::Unreadable), [`Parse`](ConfigError::Parse),
    /// [`Invalid`](ConfigError::Invalid), or
    /// [`Watch`](ConfigError::Watch) (its directory cannot be watched).
    pub fn config_with<T, F, E>(
        &self,
        path: impl AsRef<Path>,
        validate: F,
    ) -> Result<Config<T>, ConfigError>
    where
        T: DeserializeOwned + Send + Sync + 'static,
        F: Fn(&T) -> Result<(), E> + Send + Sync + 'static,
        E: Into<BoxError>,
    {
        let path = path.as_ref();
        let format = ConfigFormat::of(path)?;
        let path = std::path::absolute(path)
            .map_err(|source| ConfigError::Unreadable { path: path.to_owned(), source })?;
        let validate: Box<Validator<T>> = Box::new(move |t| validate(t).map_err(Into::into));
        // Watch first, read second: a change between the two is seen.
        let (watcher, changes) = watch::watch(&path)?;
        let (bytes, first) = read(&path, format, &*validate)?;
        let inner = Arc::new(Inner {
            value: ArcSwap::from_pointee(first),
            revision: AtomicU64::new(1),
            path,
            format,
            validate,
            events: Arc::clone(self.shared().table.event_bus()),
            host: Arc::downgrade(self.shared()),
            extracts: Mutex::new(Vec::new()),
            state: Mutex::new(State { bytes }),
            shown: Mutex::new(Shown { applied_at: SystemTime::now(), last_error: None }),
            _watcher: Mutex::new(watcher),
        });
        let weak: Weak<Inner<T>> = Arc::downgrade(&inner);
        watch::spawn(&inner.path, changes, move || {
            let Some(inner) = weak.upgrade() else { return false };
            let _ = inner.reload();
            true
        })
        .map_err(|source| ConfigError::Unreadable { path: inner.path.clone(), source })?;
        let source: Weak<dyn ConfigSource> = Arc::downgrade(&inner) as Weak<dyn ConfigSource>;
        self.shared().configs.lock().push(source);
        tracing::info!(path = %inner.path.display(), %format, "configuration applied");
        inner.events.emit(EventKind::ConfigApplied { path: inner.path_text(), revision: 1 });
        Ok(Config { inner })
    }

    /// Every configuration of this host still held by someone, in the
    /// order they were opened (what `relive config` shows).
    pub fn configs(&self) -> Vec<ConfigStatus> {
        let mut configs = self.shared().configs.lock();
        configs.retain(|c| c.strong_count() > 0);
        configs.iter().filter_map(Weak::upgrade).map(|c| c.status()).collect()
    }
}
