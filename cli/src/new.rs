//! `relive new NAME`: write a workspace the user owns — an interface crate,
//! a module crate (version 1) and a host that builds and loads it — from the
//! templates in `cli/templates/`.

use std::path::{Path, PathBuf};

/// Where the new workspace's `relive` and `relive-sdk` come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReliveSource {
    /// A checkout on this machine (the directory holding relive's `Cargo.toml`).
    Path(PathBuf),
    /// A git repository.
    Git(String),
}

impl ReliveSource {
    /// The checkout this CLI was built from, if it is still there.
    pub(crate) fn this_checkout() -> Option<PathBuf> {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().ok()
    }

    /// The dependency spec (a TOML inline table) for package `relive` or
    /// `relive-sdk`.
    fn spec(&self, sdk: bool) -> String {
        match self {
            ReliveSource::Path(dir) => {
                let dir = if sdk { dir.join("sdk") } else { dir.clone() };
                format!("{{ path = {} }}", toml_string(&dir.display().to_string()))
            }
            ReliveSource::Git(url) => format!("{{ git = {} }}", toml_string(url)),
        }
    }

    fn describe(&self) -> String {
        match self {
            ReliveSource::Path(dir) => format!("path (`{}`)", dir.display()),
            ReliveSource::Git(url) => format!("git (`{url}`)"),
        }
    }
}

/// Why `relive new` wrote nothing (or stopped).
#[derive(Debug, thiserror::Error)]
pub(crate) enum NewError {
    /// The name is not usable as a module and crate name.
    #[error(
        "`{0}` is not a usable name: use lowercase ASCII letters, digits, `-` and `_`, starting with a letter"
    )]
    BadName(String),
    /// The target directory exists.
    #[error("{}: already exists; relive new writes a new directory", .0.display())]
    Exists(PathBuf),
    /// The relive checkout to point at has no relive workspace.
    #[error(
        "{}: not a relive checkout (no sdk/Cargo.toml); pass --relive-path DIR or --relive-git URL",
        .0.display()
    )]
    NotACheckout(PathBuf),
    /// A file could not be written.
    #[error("{}: {source}", path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// The templates, each with where it goes in the new workspace.
const TEMPLATES: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../templates/workspace.Cargo.toml")),
    (".gitignore", include_str!("../templates/gitignore")),
    ("README.md", include_str!("../templates/README.md")),
    ("api/Cargo.toml", include_str!("../templates/api.Cargo.toml")),
    ("api/src/lib.rs", include_str!("../templates/api.lib.rs")),
    ("module/Cargo.toml", include_str!("../templates/module.Cargo.toml")),
    ("module/src/lib.rs", include_str!("../templates/module.lib.rs")),
    ("host/Cargo.toml", include_str!("../templates/host.Cargo.toml")),
    ("host/src/main.rs", include_str!("../templates/host.main.rs")),
];

/// Write the workspace `name` into `parent/name`. Returns its directory.
pub(crate) fn new(parent: &Path, name: &str, source: &ReliveSource) -> Result<PathBuf, NewError> {
    let ok_name = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !ok_name {
        return Err(NewError::BadName(name.to_owned()));
    }
    if let ReliveSource::Path(dir) = source
        && !dir.join("sdk").join("Cargo.toml").is_file()
    {
        return Err(NewError::NotACheckout(dir.clone()));
    }
    // Cargo reads a path dependency from the manifest that names it, not
    // from where `relive new` ran: the checkout must be written absolute.
    let source = &match source {
        ReliveSource::Path(dir) => {
            ReliveSource::Path(dir.canonicalize().map_err(|_| NewError::NotACheckout(dir.clone()))?)
        }
        other => other.clone(),
    };
    let root = parent.join(name);
    if root.exists() {
        return Err(NewError::Exists(root));
    }
    let ident = name.replace('-', "_");
    let fill = |text: &str| {
        text.replace("{{name}}", name)
            .replace("{{ident}}", &ident)
            .replace("{{relive_sdk}}", &source.spec(true))
            .replace("{{relive}}", &source.spec(false))
            .replace("{{source}}", &source.describe())
    };
    for (rel, text) in TEMPLATES {
        let path = root.join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|source| NewError::Write { path: dir.to_owned(), source })?;
        }
        std::fs::write(&path, fill(text)).map_err(|source| NewError::Write { path, source })?;
    }
    // A checkout's lock file pins the versions relive was tested with; cargo
    // keeps those the new workspace uses and adds its own crates.
    if let ReliveSource::Path(dir) = source
        && let Ok(lock) = std::fs::read(dir.join("Cargo.lock"))
    {
        let path = root.join("Cargo.lock");
        std::fs::write(&path, lock).map_err(|source| NewError::Write { path, source })?;
    }
    Ok(root)
}

/// A TOML basic string holding `s`.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::{ReliveSource, new};
    use std::path::PathBuf;

    #[test]
    fn a_relative_checkout_path_is_written_absolute() {
        let parent = tempfile::tempdir().unwrap();
        // Tests run in `cli/`: `..` is this checkout, relative to here only.
        let root = new(parent.path(), "billing", &ReliveSource::Path(PathBuf::from(".."))).unwrap();
        let api = std::fs::read_to_string(root.join("api").join("Cargo.toml")).unwrap();
        let checkout = std::path::Path::new("..").canonicalize().unwrap();
        let sdk = checkout.join("sdk").display().to_string();
        assert!(api.contains(&sdk), "not the absolute checkout: {api}");
        assert!(!api.contains("\"../sdk\""), "{api}");
    }
}
