//! issue 17: why a configuration was refused ([`ConfigError`]).

use super::format::ConfigFormat;
use std::path::PathBuf;

/// A boxed cause: a parser's error, or what a validation returned.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a configuration file was not applied. From
/// [`HostHandle::config`](crate::host::HostHandle::config) it means there is
/// no configuration; from a reload (the watcher, or
/// [`Config::reload`](super::Config::reload)) it means the previous one is
/// still in force.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file's extension names no format this host reads (`.toml`,
    /// `.json`, `.yaml`, `.yml`).
    #[error("{path}: unknown configuration format (expected .toml, .json, .yaml or .yml)", path = path.display())]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// The file does not exist (never did, or was deleted).
    #[error("{path}: no such file (deleted?)", path = path.display())]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// The file exists but could not be read (permissions, a directory in
    /// its place, an I/O error).
    #[error("{path}: cannot read: {source}", path = path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid in its format, or does not fit the type (a
    /// missing or mistyped field).
    #[error("{path}: not a valid {format} configuration: {source}", path = path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Its format.
        format: ConfigFormat,
        /// The parser's error.
        #[source]
        source: BoxError,
    },
    /// The file parsed, and its validation refused the value.
    #[error("{path}: refused by validation: {source}", path = path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What the validation returned (or that it panicked).
        #[source]
        source: BoxError,
    },
    /// A module cannot take its section of the configuration: it reads
    /// another schema, or its `on_config` vetoed it (for every module: no
    /// module's section changed).
    #[error("{path}: {source}", path = path.display())]
    Section {
        /// The file.
        path: PathBuf,
        /// Which module, and why.
        #[source]
        source: crate::code_server::SectionError,
    },
    /// The file's directory cannot be watched.
    #[error("{path}: cannot watch the directory for changes: {source}", path = path.display())]
    Watch {
        /// The file.
        path: PathBuf,
        /// The watcher's error.
        #[source]
        source: notify::Error,
    },
}

impl ConfigError {
    /// The file concerned.
    pub fn path(&self) -> &std::path::Path {
        match self {
            ConfigError::UnknownFormat { path }
            | ConfigError::Missing { path }
            | ConfigError::Unreadable { path, .. }
            | ConfigError::Parse { path, .. }
            | ConfigError::Invalid { path, .. }
            | ConfigError::Section { path, .. }
            | ConfigError::Watch { path, .. } => path,
        }
    }
}
