//! Commands that work on local files: build, keygen, sign, and the file
//! side of watch.

use ed25519_dalek::{Signer, SigningKey};
use relive_runtime::build::ModuleCrate;
use relive_runtime::code_server::loader::signature_path;
use relive_sdk::record::{ModuleRecord, RecordError};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A freshly generated key pair, written as `<out>` (secret, 0600) and
/// `<out>.pub`, both as hex. Returns the public key's hex.
pub(crate) fn keygen(out: &Path) -> Result<String, String> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| format!("no randomness for a key: {e}"))?;
    let key = SigningKey::from_bytes(&seed);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .map_err(|e| format!("{}: {e}", out.display()))?;
    std::io::Write::write_all(&mut f, format!("{}\n", hex::encode(seed)).as_bytes())
        .map_err(|e| format!("{}: {e}", out.display()))?;
    let public = hex::encode(key.verifying_key().as_bytes());
    let mut pub_path = out.as_os_str().to_owned();
    pub_path.push(".pub");
    std::fs::write(&pub_path, format!("{public}\n"))
        .map_err(|e| format!("{}: {e}", Path::new(&pub_path).display()))?;
    Ok(public)
}

/// Read a secret key written by `keygen`.
pub(crate) fn read_secret(path: &Path) -> Result<SigningKey, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let seed: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| format!("{}: not a relive secret key (64 hex digits)", path.display()))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Sign `file` with the secret key at `key`: writes `<file>.sig`.
pub(crate) fn sign(file: &Path, key: &Path) -> Result<PathBuf, String> {
    let key = read_secret(key)?;
    let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let sig = key.sign(&bytes).to_bytes();
    let out = signature_path(file);
    std::fs::write(&out, format!("{}\n", hex::encode(sig)))
        .map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(out)
}

/// What `build` produced.
pub(crate) struct Built {
    pub(crate) path: PathBuf,
    pub(crate) module: String,
    pub(crate) version: String,
    pub(crate) hash: String,
}

/// Run cargo for the module crate at `dir`, find its cdylib, and validate
/// it as a host would (which refuses `panic = "abort"`): the one
/// implementation, `relive_runtime::build::ModuleCrate`, that hosts use too.
pub(crate) fn build(dir: &Path, release: bool) -> Result<Built, String> {
    let built = ModuleCrate::at(dir).release(release).build().map_err(|e| e.to_string())?;
    Ok(Built {
        path: built.path,
        module: built.name,
        version: built.version.to_string(),
        hash: built.hash.to_string(),
    })
}

/// Why a library's module could not be told from its file.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NotNamed {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file holds no readable module record.
    #[error("{}: {source}", path.display())]
    Record {
        path: PathBuf,
        #[source]
        source: RecordError,
    },
}

/// The module a library declares (for `watch` and `build`), read from its
/// `.relive_module` section as bytes: the library is never loaded, so none
/// of its code runs here. The host validates everything when it loads it.
pub(crate) fn module_of(path: &Path) -> Result<ModuleRecord, NotNamed> {
    let bytes = std::fs::read(path)
        .map_err(|source| NotNamed::Unreadable { path: path.to_owned(), source })?;
    relive_sdk::record::read(&bytes)
        .map_err(|source| NotNamed::Record { path: path.to_owned(), source })
}
