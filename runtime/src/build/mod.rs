//! Build a module crate with cargo and find the library it made.
//!
//! What `relive build` does, for a host or a test: run `cargo build --lib`
//! for the crate at a directory, read cargo's JSON messages for the cdylib
//! that crate produced (never a guessed `target/debug/lib<name>.so`), and
//! validate the library as a host would, so that a build the host would
//! refuse fails here, with the loader's reason.
//!
//! ```no_run
//! use relive_runtime::build::ModuleCrate;
//!
//! let built = ModuleCrate::at("module").release(false).build()?;
//! println!("{} {} at {}", built.name, built.version, built.path.display());
//! # Ok::<(), relive_runtime::build::BuildError>(())
//! ```
//!
//! The library is opened once (`dlopen`, which runs its constructors) to
//! read its declaration: fine for the caller's own crate, which cargo just
//! built; a tool that must not run foreign code reads only the module record
//! (`relive_sdk::record`).

use crate::code_server::loader::Source;
use crate::code_server::{BuildHash, LoadError, ModuleTable, StateError};
use relive_sdk::record::RecordError;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

/// A module crate to build: the directory holding its `Cargo.toml`, and how.
#[derive(Debug, Clone)]
pub struct ModuleCrate {
    dir: PathBuf,
    release: bool,
    target_dir: Option<PathBuf>,
    cargo: Option<PathBuf>,
}

/// A library cargo built, validated, with what it declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltModule {
    /// The cdylib cargo wrote (in the target directory: a rebuild replaces it,
    /// which the code server treats as new code).
    pub path: PathBuf,
    /// The module it declares.
    pub name: String,
    /// Its version.
    pub version: semver::Version,
    /// Its build hash (what `relive history` and the code server show).
    pub hash: BuildHash,
}

/// Why a module crate could not be built into a loadable library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// Cargo could not be started (not installed, not on `PATH`, or `$CARGO`
    /// names no program).
    #[error("cannot run cargo ({}): {source}", cargo.display())]
    CargoMissing {
        /// The program tried.
        cargo: PathBuf,
        /// Why it could not start.
        #[source]
        source: std::io::Error,
    },
    /// Cargo ran and failed; its diagnostics are kept.
    #[error("cargo build of {} failed ({status}):\n{stderr}", manifest.display())]
    Failed {
        /// The manifest built.
        manifest: PathBuf,
        /// Cargo's exit status.
        status: ExitStatus,
        /// What cargo wrote to stderr (the compiler's diagnostics included).
        stderr: String,
    },
    /// The crate builds no cdylib: a module must say
    /// `crate-type = ["cdylib"]` in its `[lib]` section.
    #[error("{}: not a cdylib crate (add crate-type = [\"cdylib\"] under [lib])", manifest.display())]
    NotACdylib {
        /// The manifest built.
        manifest: PathBuf,
    },
    /// Cargo reported no shared library for the crate at that manifest (it
    /// has no `[lib]`, or the directory is another crate's).
    #[error("{}: cargo built no shared library for this crate", manifest.display())]
    NoLibrary {
        /// The manifest built.
        manifest: PathBuf,
    },
    /// The library could not be read back.
    #[error("{}: {source}", path.display())]
    Unreadable {
        /// The library.
        path: PathBuf,
        /// The read error.
        #[source]
        source: std::io::Error,
    },
    /// The library has no module record: it was not built with
    /// `relive_sdk::export_module!`.
    #[error("{}: not a relive module: {source}", path.display())]
    NotAModule {
        /// The library.
        path: PathBuf,
        /// What the record reader found.
        #[source]
        source: RecordError,
    },
    /// A host would refuse the library; the loader's reason is kept.
    #[error("{}: a host would refuse it: {source}", path.display())]
    Refused {
        /// The library.
        path: PathBuf,
        /// The loader's reason (boxed: it is large).
        #[source]
        source: Box<LoadError>,
    },
    /// No code server could be made to check the library with.
    #[error("cannot check {}: {source}", path.display())]
    NoChecker {
        /// The library.
        path: PathBuf,
        /// Why the table could not be made.
        #[source]
        source: StateError,
    },
    /// The module record and the declaration disagree (a library edited
    /// after the build).
    #[error("{}: its module record says {record}, its declaration {declared}", path.display())]
    Mismatch {
        /// The library.
        path: PathBuf,
        /// `name version` from the record.
        record: String,
        /// `name version` from the declaration.
        declared: String,
    },
}

impl ModuleCrate {
    /// The crate whose `Cargo.toml` is in `dir`. Debug build, cargo's own
    /// target directory, `$CARGO` (or `cargo` on `PATH`) unless told otherwise.
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        ModuleCrate { dir: dir.into(), release: false, target_dir: None, cargo: None }
    }

    /// Build with `--release` (default: no).
    #[must_use]
    pub fn release(mut self, release: bool) -> Self {
        self.release = release;
        self
    }

    /// Build into this target directory (`--target-dir`) instead of the
    /// workspace's.
    #[must_use]
    pub fn target_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.target_dir = Some(dir.into());
        self
    }

    /// Run this cargo program instead of `$CARGO` / `cargo`.
    #[must_use]
    pub fn cargo(mut self, program: impl Into<PathBuf>) -> Self {
        self.cargo = Some(program.into());
        self
    }

    /// The manifest this builds.
    pub fn manifest(&self) -> PathBuf {
        self.dir.join("Cargo.toml")
    }

    /// Run cargo, find the crate's cdylib in its JSON messages, and validate
    /// it as a host would. Blocks until cargo is done (cargo's own locks
    /// bound the wait; a build takes as long as it takes).
    ///
    /// # Errors
    /// [`BuildError`]: cargo missing or failed (stderr kept), no cdylib, or
    /// a library a host would refuse (the loader's reason kept).
    pub fn build(&self) -> Result<BuiltModule, BuildError> {
        let manifest = self.manifest();
        let cargo = self.cargo.clone().unwrap_or_else(|| {
            std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from)
        });
        let mut cmd = Command::new(&cargo);
        cmd.args(["build", "--lib", "--message-format=json-render-diagnostics", "--manifest-path"])
            .arg(&manifest);
        if self.release {
            cmd.arg("--release");
        }
        if let Some(dir) = &self.target_dir {
            cmd.arg("--target-dir").arg(dir);
        }
        let out = cmd.output().map_err(|source| BuildError::CargoMissing { cargo, source })?;
        if !out.status.success() {
            return Err(BuildError::Failed {
                manifest,
                status: out.status,
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        let path = library_in(&String::from_utf8_lossy(&out.stdout), &manifest)?;
        validate(path)
    }
}

/// The shared library cargo's JSON messages name for the crate at `manifest`.
fn library_in(messages: &str, manifest: &Path) -> Result<PathBuf, BuildError> {
    let ours = manifest.canonicalize().ok();
    let mut found = None;
    for line in messages.lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let at = msg["manifest_path"].as_str().map(|p| Path::new(p).canonicalize().ok());
        if at.flatten() != ours {
            continue;
        }
        let kinds = msg["target"]["kind"].as_array().cloned().unwrap_or_default();
        if !kinds.iter().any(|k| k == "lib" || k == "cdylib" || k == "rlib" || k == "dylib") {
            continue; // a build script or a binary of the same package
        }
        if !kinds.iter().any(|k| k == "cdylib") {
            return Err(BuildError::NotACdylib { manifest: manifest.to_owned() });
        }
        found = msg["filenames"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str())
            .find(|f| f.ends_with(std::env::consts::DLL_SUFFIX))
            .map(PathBuf::from);
    }
    found.ok_or_else(|| BuildError::NoLibrary { manifest: manifest.to_owned() })
}

/// Read the record, then check the library as a host would.
fn validate(path: PathBuf) -> Result<BuiltModule, BuildError> {
    let bytes = std::fs::read(&path)
        .map_err(|source| BuildError::Unreadable { path: path.clone(), source })?;
    let record = relive_sdk::record::read(&bytes)
        .map_err(|source| BuildError::NotAModule { path: path.clone(), source })?;
    let table = ModuleTable::new()
        .map_err(|source| BuildError::NoChecker { path: path.clone(), source })?;
    let info = table
        .inspect(Source::Dylib(path.clone()))
        .map_err(|source| BuildError::Refused { path: path.clone(), source: Box::new(source) })?;
    if (info.name.as_str(), info.version.to_string())
        != (record.name.as_str(), record.version.clone())
    {
        return Err(BuildError::Mismatch {
            record: format!("{} {}", record.name, record.version),
            declared: format!("{} {}", info.name, info.version),
            path,
        });
    }
    Ok(BuiltModule { path, name: info.name, version: info.version, hash: info.hash })
}
