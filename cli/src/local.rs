//! Commands that work on local files: build, keygen, sign, and the file
//! side of watch.

use ed25519_dalek::{Signer, SigningKey};
use relive_runtime::ModuleTable;
use relive_runtime::code_server::loader::{decode_hex, signature_path};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A freshly generated key pair, written as `<out>` (secret, 0600) and
/// `<out>.pub`, both as hex. Returns the public key's hex.
pub(crate) fn keygen(out: &Path) -> Result<String, String> {
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
    let key = SigningKey::from_bytes(&seed);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .map_err(|e| format!("{}: {e}", out.display()))?;
    std::io::Write::write_all(&mut f, format!("{}\n", hex(&seed)).as_bytes())
        .map_err(|e| format!("{}: {e}", out.display()))?;
    let public = hex(key.verifying_key().as_bytes());
    let mut pub_path = out.as_os_str().to_owned();
    pub_path.push(".pub");
    std::fs::write(&pub_path, format!("{public}\n"))
        .map_err(|e| format!("{}: {e}", Path::new(&pub_path).display()))?;
    Ok(public)
}

/// Read a secret key written by `keygen`.
pub(crate) fn read_secret(path: &Path) -> Result<SigningKey, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let seed: [u8; 32] = decode_hex(text.trim())
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
    std::fs::write(&out, format!("{}\n", hex(&sig)))
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
/// it as a host would (which refuses `panic = "abort"`).
pub(crate) fn build(dir: &Path, release: bool) -> Result<Built, String> {
    let manifest = dir.join("Cargo.toml");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--lib", "--message-format=json-render-diagnostics", "--manifest-path"])
        .arg(&manifest);
    if release {
        cmd.arg("--release");
    }
    let out = cmd.output().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo build failed:\n{}", String::from_utf8_lossy(&out.stderr)));
    }
    let mut found = None;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let kinds = msg["target"]["kind"].as_array().cloned().unwrap_or_default();
        let manifest_path = msg["manifest_path"].as_str().unwrap_or("");
        let ours = Path::new(manifest_path).canonicalize().ok() == manifest.canonicalize().ok();
        if ours && !kinds.iter().any(|k| k == "cdylib") {
            return Err(format!(
                "{}: not a cdylib crate (add crate-type = [\"cdylib\"])",
                dir.display()
            ));
        }
        if ours {
            found = msg["filenames"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str())
                .find(|f| f.ends_with(".so"))
                .map(PathBuf::from);
        }
    }
    let path = found.ok_or_else(|| format!("{}: cargo built no shared library", dir.display()))?;
    let code = ModuleTable::new().map_err(|e| e.to_string())?;
    let info = code.inspect(&path).map_err(|e| e.to_string())?;
    Ok(Built {
        path,
        module: info.name,
        version: info.version.to_string(),
        hash: info.hash.to_string(),
    })
}

/// The module a library declares (for `watch`), validated as a host would.
pub(crate) fn module_of(path: &Path) -> Result<String, String> {
    let code = ModuleTable::new().map_err(|e| e.to_string())?;
    code.inspect(path).map(|i| i.name).map_err(|e| e.to_string())
}
