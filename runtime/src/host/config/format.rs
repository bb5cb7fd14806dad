//! issue 17: the formats a configuration file may be in, chosen by its
//! extension, and the one place each is parsed.

use super::error::ConfigError;
use serde::de::DeserializeOwned;
use std::path::Path;

/// A configuration file's format, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigFormat {
    /// `.toml` (the `toml` crate).
    Toml,
    /// `.json` (`serde_json`).
    Json,
    /// `.yaml` or `.yml` (`serde_yaml_ng`).
    Yaml,
}

impl ConfigFormat {
    /// The format of `path`, by its extension (ASCII case ignored).
    ///
    /// # Errors
    /// [`ConfigError::UnknownFormat`] for any other extension, or none.
    pub fn of(path: &Path) -> Result<Self, ConfigError> {
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("toml") => Ok(ConfigFormat::Toml),
            Some("json") => Ok(ConfigFormat::Json),
            Some("yaml" | "yml") => Ok(ConfigFormat::Yaml),
            _ => Err(ConfigError::UnknownFormat { path: path.to_owned() }),
        }
    }

    /// Its name as `relive config` shows it.
    pub fn name(self) -> &'static str {
        match self {
            ConfigFormat::Toml => "toml",
            ConfigFormat::Json => "json",
            ConfigFormat::Yaml => "yaml",
        }
    }

    /// Parse a whole file's bytes as a `T`.
    pub(super) fn parse<T: DeserializeOwned>(
        self,
        bytes: &[u8],
    ) -> Result<T, Box<dyn std::error::Error + Send + Sync>> {
        Ok(match self {
            ConfigFormat::Toml => toml::from_str(std::str::from_utf8(bytes)?)?,
            ConfigFormat::Json => serde_json::from_slice(bytes)?,
            ConfigFormat::Yaml => serde_yaml_ng::from_slice(bytes)?,
        })
    }
}

impl std::fmt::Display for ConfigFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ConfigFormat::Toml => "TOML",
            ConfigFormat::Json => "JSON",
            ConfigFormat::Yaml => "YAML",
        })
    }
}
