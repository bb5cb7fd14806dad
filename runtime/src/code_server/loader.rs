//! The loader: validate a module version completely before anything changes.
//!
//! The checks run in DESIGN.md's order, each a `check_*` function returning
//! its own [`LoadError`] variant; the first failure wins.
//!
//! 1. The file, without running any of its code: it exists, is not writable
//!    by other users, is owned by us or root; its bytes are hashed (the hash
//!    is the build's identity); the signature verifies when the host requires
//!    one; the build is not marked bad; it is an ELF shared object. The bytes
//!    *that were hashed* are written to a private file, `<module>-<hash>-<n>.so`
//!    in a 0700 directory, created exclusively: a rebuild at the same path is
//!    new code, and nobody can change what we map.
//! 2. `dlopen(RTLD_NOW | RTLD_LOCAL)` of the private copy, symbol lookup.
//! 3. Magic, ABI version, declaration and table sizes, required functions.
//! 4. Target triple and panic strategy.
//! 5. Name and semver (here); same version and build (in the code server,
//!    against the running version: a no-op; another build is refused unless
//!    forced).
//! 6. Schemas, against the running version (in the code server).
//!
//! A static source (a `declaration!` linked into the host) skips the file
//! steps and runs 3 to 6 through exactly the same code.

use super::error::LoadError;
use super::version::{BuildHash, Origin, Version};
use crate::ffi;
use crate::ffi::decl::{DeclError, Declaration, Table};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use relive_codec::compat::{StateCompat, state_compat};
use relive_sdk::abi::{ModuleDecl, flags};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// What to load.
#[derive(Debug, Clone)]
pub enum Source {
    /// A module library (`cdylib`) at this path.
    Dylib(PathBuf),
    /// A module linked into the host (`relive_sdk::declaration!`).
    Static(&'static ModuleDecl),
}

impl From<&Path> for Source {
    fn from(p: &Path) -> Self {
        Source::Dylib(p.to_owned())
    }
}

impl From<PathBuf> for Source {
    fn from(p: PathBuf) -> Self {
        Source::Dylib(p)
    }
}

impl From<&str> for Source {
    fn from(p: &str) -> Self {
        Source::Dylib(p.into())
    }
}

impl From<String> for Source {
    fn from(p: String) -> Self {
        Source::Dylib(p.into())
    }
}

impl From<&PathBuf> for Source {
    fn from(p: &PathBuf) -> Self {
        Source::Dylib(p.clone())
    }
}

impl From<&'static ModuleDecl> for Source {
    fn from(d: &'static ModuleDecl) -> Self {
        Source::Static(d)
    }
}

/// The host's loading policy and private directory.
#[derive(Debug)]
pub(crate) struct Loader {
    pub(crate) dir: PathBuf,
    pub(crate) trusted_keys: Vec<VerifyingKey>,
    seq: AtomicU64,
}

/// A module version that passed steps 1–5a and is not yet known to the code
/// server.
pub(crate) struct Checked {
    pub(crate) version: Version,
    pub(crate) forward_logs: bool,
}

impl Loader {
    pub(crate) fn new(dir: PathBuf, trusted_keys: Vec<VerifyingKey>) -> Self {
        Loader { dir, trusted_keys, seq: AtomicU64::new(0) }
    }

    /// Steps 1 to 5a for `source`, expected to declare module `name`
    /// (`None`: whatever it declares, for inspection).
    pub(crate) fn load(
        &self,
        name: Option<&str>,
        source: &Source,
        is_bad: impl Fn(&BuildHash) -> bool,
        force: bool,
    ) -> Result<Checked, LoadError> {
        match source {
            Source::Dylib(path) => self.load_dylib(name, path, is_bad, force),
            Source::Static(decl) => load_static(name, decl, is_bad, force),
        }
    }

    fn load_dylib(
        &self,
        name: Option<&str>,
        path: &Path,
        is_bad: impl Fn(&BuildHash) -> bool,
        force: bool,
    ) -> Result<Checked, LoadError> {
        let file = path.display().to_string();
        // Step 1.
        let bytes = check_file(path, &file)?;
        let hash = BuildHash(Sha256::digest(&bytes).into());
        self.check_signature(path, &file, &bytes)?;
        if is_bad(&hash) && !force {
            return Err(LoadError::BadBuild { file, hash });
        }
        check_elf(&bytes, &file)?;
        let copy = self.private_copy(name.unwrap_or("module"), &hash, &bytes, &file)?;
        // Step 2.
        let opened = ffi::dylib::open(&copy).map_err(|e| {
            let _ = fs::remove_file(&copy);
            match e {
                ffi::dylib::OpenError::DlOpen(source) => {
                    LoadError::DlOpen { file: file.clone(), source }
                }
                ffi::dylib::OpenError::MissingSymbol(source) => {
                    LoadError::MissingSymbol { file: file.clone(), source }
                }
            }
        })?;
        // Steps 3 to 5a. On failure the library closes and the copy goes.
        let checked = (|| {
            let (decl, table) = decl_error(opened.read_declaration(), &file)?;
            let semver = check_decl(name, &decl, &file)?;
            Ok::<_, LoadError>((decl, table, semver))
        })();
        match checked {
            Ok((decl, table, semver)) => {
                let origin = Origin::Dylib { path: path.to_owned(), copy };
                let version = Version::new(decl, semver, hash, origin, table, Some(opened.library));
                Ok(Checked { version, forward_logs: true })
            }
            Err(e) => {
                drop(opened);
                let _ = fs::remove_file(&copy);
                Err(e)
            }
        }
    }

    fn check_signature(&self, path: &Path, file: &str, bytes: &[u8]) -> Result<(), LoadError> {
        if self.trusted_keys.is_empty() {
            return Ok(());
        }
        let sig_path = signature_path(path);
        let text = match fs::read_to_string(&sig_path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(LoadError::Unsigned { file: file.to_owned() });
            }
            Err(e) => {
                return Err(LoadError::BadSignature {
                    file: file.to_owned(),
                    reason: format!("cannot read {}: {e}", sig_path.display()),
                });
            }
        };
        let mut raw = [0u8; 64];
        hex::decode_to_slice(text.trim(), &mut raw)
            .map_err(|source| LoadError::MalformedSignature { file: file.to_owned(), source })?;
        let signature = Signature::from_bytes(&raw);
        if self.trusted_keys.iter().any(|k| k.verify(bytes, &signature).is_ok()) {
            Ok(())
        } else {
            Err(LoadError::BadSignature {
                file: file.to_owned(),
                reason: "does not verify against any trusted key".to_owned(),
            })
        }
    }

    fn private_copy(
        &self,
        name: &str,
        hash: &BuildHash,
        bytes: &[u8],
        file: &str,
    ) -> Result<PathBuf, LoadError> {
        let err = |source| LoadError::PrivateCopy { file: file.to_owned(), source };
        let safe_name: String =
            name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
        loop {
            // ORDERING: only uniqueness matters.
            let n = self.seq.fetch_add(1, Ordering::Relaxed);
            let copy = self.dir.join(format!("{safe_name}-{}-{n}.so", hash.short()));
            match fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&copy) {
                Ok(mut f) => {
                    // No fsync: the copy is only read back, through the page cache,
                    // by this process; it never needs to survive a crash.
                    f.write_all(bytes).map_err(|e| {
                        let _ = fs::remove_file(&copy);
                        err(e)
                    })?;
                    return Ok(copy);
                }
                // A file left behind by an earlier run of this directory: skip it.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(err(e)),
            }
        }
    }
}

/// Read an ed25519 public key stored as 64 hex digits (as `relive keygen`
/// writes `<key>.pub`), for [`CodeServerBuilder::trust_key`](super::CodeServerBuilder::trust_key).
///
/// # Errors
/// The file cannot be read or does not hold a valid key.
pub fn read_public_key(path: &Path) -> Result<VerifyingKey, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut bytes).map_err(|e| {
        format!("{}: not an ed25519 public key (64 hex digits): {e}", path.display())
    })?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Where the signature of `path` is looked for: `<path>.sig`.
pub fn signature_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".sig");
    PathBuf::from(s)
}

fn load_static(
    name: Option<&str>,
    decl: &'static ModuleDecl,
    is_bad: impl Fn(&BuildHash) -> bool,
    force: bool,
) -> Result<Checked, LoadError> {
    let file = format!("static:{}", name.unwrap_or(""));
    let (decl, table) = decl_error(ffi::decl::read_static(decl), &file)?;
    let semver = check_decl(name, &decl, &file)?;
    let hash = static_hash(&decl, &table);
    if is_bad(&hash) && !force {
        return Err(LoadError::BadBuild { file, hash });
    }
    let version = Version::new(decl, semver, hash, Origin::Static, table, None);
    // The module shares the host's `tracing` globals: no forwarding.
    Ok(Checked { version, forward_logs: false })
}

/// The identity of a static build: its declaration and the address of its
/// code, which differ between two modules linked into the same host.
fn static_hash(decl: &Declaration, table: &Table) -> BuildHash {
    let mut h = Sha256::new();
    for s in [&decl.name, &decl.version, &decl.build_id] {
        h.update(s.as_bytes());
        h.update([0]);
    }
    for f in [decl.args_schema, decl.message_schema, decl.reply_schema, decl.state_schema] {
        h.update(f.0);
    }
    h.update((table.handle as usize).to_le_bytes());
    BuildHash(h.finalize().into())
}

/// Step 1, without running code: existence, ownership, permissions, bytes.
fn check_file(path: &Path, file: &str) -> Result<Vec<u8>, LoadError> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(LoadError::NotFound { file: file.to_owned() });
        }
        Err(source) => return Err(LoadError::Unreadable { file: file.to_owned(), source }),
    };
    let mode = meta.permissions().mode();
    if mode & 0o002 != 0 {
        return Err(LoadError::WritableByOthers { file: file.to_owned(), mode: mode & 0o7777 });
    }
    let me = current_uid();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(LoadError::ForeignOwner { file: file.to_owned(), uid: meta.uid() });
    }
    fs::read(path).map_err(|source| LoadError::Unreadable { file: file.to_owned(), source })
}

/// The uid whose files we trust (besides root's): the *effective* uid, the
/// identity the kernel checks our own accesses against. The real uid would be
/// wrong in a set-uid host: it is whoever started the program, and trusting
/// their files would let them run code as the host's user.
fn current_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Step 1: a complete ELF64 shared object, judged from its headers alone.
///
/// `dlopen` maps segments at the offsets the headers give; a segment past the
/// end of the file (a library still being written, a truncated copy) maps
/// pages with nothing behind them, and touching them kills the process with
/// SIGBUS. So every header table and every segment must lie inside the file.
pub(crate) fn check_elf(bytes: &[u8], file: &str) -> Result<(), LoadError> {
    let not =
        |reason: &str| LoadError::NotALibrary { file: file.to_owned(), reason: reason.into() };
    let corrupt = |reason: String| LoadError::Corrupt { file: file.to_owned(), reason };
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" {
        return Err(not("no ELF header"));
    }
    if bytes[4] != 2 {
        return Err(not("not a 64-bit ELF file"));
    }
    let le = match bytes[5] {
        1 => true,
        2 => false,
        _ => return Err(not("unknown ELF byte order")),
    };
    let u16_at = |at: usize| {
        let b = [bytes[at], bytes[at + 1]];
        if le { u16::from_le_bytes(b) } else { u16::from_be_bytes(b) }
    };
    let u64_at = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[at..at + 8]);
        if le { u64::from_le_bytes(b) } else { u64::from_be_bytes(b) }
    };
    if u16_at(16) != 3 {
        return Err(not("an ELF file, but not a shared object"));
    }
    let len = bytes.len() as u64;
    let table_end = |off: u64, entsize: u16, num: u16| {
        off.checked_add(u64::from(entsize) * u64::from(num)).filter(|end| *end <= len)
    };
    let (phoff, phentsize, phnum) = (u64_at(32), u16_at(54), u16_at(56));
    let (shoff, shentsize, shnum) = (u64_at(40), u16_at(58), u16_at(60));
    if table_end(phoff, phentsize, phnum).is_none() || (phnum > 0 && phentsize < 56) {
        return Err(corrupt(format!("program headers end past the file's {len} bytes")));
    }
    if table_end(shoff, shentsize, shnum).is_none() {
        return Err(corrupt(format!("section headers end past the file's {len} bytes")));
    }
    for i in 0..u64::from(phnum) {
        let ph = (phoff + i * u64::from(phentsize)) as usize;
        let (offset, filesz) = (u64_at(ph + 8), u64_at(ph + 32));
        if offset.checked_add(filesz).is_none_or(|end| end > len) {
            return Err(corrupt(format!(
                "segment {i} ends at byte {}, the file has {len} (truncated?)",
                offset.saturating_add(filesz)
            )));
        }
    }
    Ok(())
}

/// Step 3's reasons, with the file named.
fn decl_error(
    read: Result<(Declaration, Table), DeclError>,
    file: &str,
) -> Result<(Declaration, Table), LoadError> {
    read.map_err(|e| {
        let file = file.to_owned();
        match e {
            DeclError::Null => {
                LoadError::MalformedDeclaration { file, reason: "null declaration".into() }
            }
            DeclError::Misaligned => {
                LoadError::MalformedDeclaration { file, reason: "misaligned declaration".into() }
            }
            DeclError::BadMagic { found } => LoadError::BadMagic { file, found },
            DeclError::AbiMismatch { found } => {
                LoadError::AbiMismatch { file, found, expected: relive_sdk::abi::ABI_VERSION }
            }
            DeclError::DeclTooSmall { size } => {
                LoadError::TooSmall { file, what: "declaration", size }
            }
            DeclError::TableTooSmall { size } => {
                LoadError::TooSmall { file, what: "function table", size }
            }
            DeclError::MissingFunction(function) => LoadError::MissingFunction { file, function },
            DeclError::Malformed(reason) => LoadError::MalformedDeclaration { file, reason },
        }
    })
}

/// Steps 4 and 5a: target, panic strategy, name, semver.
fn check_decl(
    name: Option<&str>,
    decl: &Declaration,
    file: &str,
) -> Result<semver::Version, LoadError> {
    let file = file.to_owned();
    if decl.target != relive_sdk::TARGET {
        return Err(LoadError::TargetMismatch {
            file,
            found: decl.target.clone(),
            expected: relive_sdk::TARGET.to_owned(),
        });
    }
    if decl.flags & flags::PANIC_UNWIND == 0 {
        return Err(LoadError::PanicAbort { file });
    }
    if let Some(name) = name
        && decl.name != name
    {
        return Err(LoadError::NameMismatch {
            file,
            expected: name.to_owned(),
            found: decl.name.clone(),
        });
    }
    semver::Version::parse(&decl.version).map_err(|e| LoadError::BadVersion {
        file,
        version: decl.version.clone(),
        reason: e.to_string(),
    })
}

/// The types callers use with a module: checked against every new version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interface {
    /// Init arguments.
    pub args: relive_codec::Fingerprint,
    /// Messages.
    pub message: relive_codec::Fingerprint,
    /// Replies.
    pub reply: relive_codec::Fingerprint,
}

impl Interface {
    /// The interface of callers that use `Args`, `Msg` and `Reply`.
    pub const fn of<Args, Msg, Reply>() -> Self
    where
        Args: relive_codec::Schema + ?Sized,
        Msg: relive_codec::Schema + ?Sized,
        Reply: relive_codec::Schema + ?Sized,
    {
        Interface {
            args: relive_codec::Fingerprint::of::<Args>(),
            message: relive_codec::Fingerprint::of::<Msg>(),
            reply: relive_codec::Fingerprint::of::<Reply>(),
        }
    }

    pub(crate) fn of_version(v: &Version) -> Self {
        let s = v.schemas();
        Interface { args: s.args, message: s.message, reply: s.reply }
    }
}

/// What step 5b decided.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Against {
    /// A new build: go ahead.
    New,
    /// The running build itself: nothing to do.
    Same,
}

/// Steps 5b and 6: the new version against the running one and the callers.
pub(crate) fn check_against(
    new: &Version,
    running: Option<&Version>,
    interface: Option<Interface>,
    force: bool,
) -> Result<Against, LoadError> {
    let file = new.source_name();
    if let Some(running) = running
        && running.version() == new.version()
    {
        if running.hash() == new.hash() {
            return Ok(Against::Same);
        }
        if !force {
            return Err(LoadError::SameVersionDifferentBuild {
                file,
                version: new.version().to_string(),
                loaded: running.hash(),
                new: new.hash(),
            });
        }
    }
    let expected = interface.or_else(|| running.map(Interface::of_version));
    if let Some(expected) = expected {
        let found = Interface::of_version(new);
        for (what, e, f) in [
            ("message", expected.message, found.message),
            ("reply", expected.reply, found.reply),
            ("init args", expected.args, found.args),
        ] {
            if e != f {
                return Err(LoadError::InterfaceMismatch { file, what, expected: e, found: f });
            }
        }
    }
    if let Some(running) = running {
        let from = running.schemas().state;
        if state_compat(new.schemas().state, new.reads_states(), from) == StateCompat::Unreadable {
            return Err(LoadError::StateUnreadable {
                file,
                running: running.version().to_string(),
                schema: from,
                readable: new.reads_states().to_vec(),
            });
        }
    }
    Ok(Against::New)
}

/// Decode hex digits (as `.sig` and key files hold them); `None` if they
/// are not an even number of hex digits. (`hex::decode`, kept for the CLI.)
pub fn decode_hex(s: &str) -> Option<Vec<u8>> {
    hex::decode(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        assert_eq!(decode_hex("00ff10"), Some(vec![0, 255, 16]));
        assert_eq!(decode_hex("0"), None);
        assert_eq!(decode_hex("zz"), None);
    }

    #[test]
    fn elf_checks() {
        assert!(check_elf(b"hello", "f").is_err());
        let mut hdr = [0u8; 64];
        hdr[..4].copy_from_slice(b"\x7fELF");
        hdr[4] = 2; // 64-bit
        hdr[5] = 1; // little-endian
        hdr[16] = 2; // ET_EXEC
        assert!(matches!(check_elf(&hdr, "f"), Err(LoadError::NotALibrary { .. })));
        hdr[16] = 3; // ET_DYN, no header tables
        assert!(check_elf(&hdr, "f").is_ok());
        hdr[32] = 200; // program headers at byte 200 of a 64-byte file
        hdr[54] = 56;
        hdr[56] = 1;
        assert!(matches!(check_elf(&hdr, "f"), Err(LoadError::Corrupt { .. })));
    }

    #[test]
    fn hostile_headers_do_not_panic() {
        let mut hdr = [0xffu8; 64];
        hdr[..4].copy_from_slice(b"\x7fELF");
        hdr[4] = 2;
        hdr[5] = 1;
        hdr[16] = 3;
        hdr[17] = 0;
        assert!(matches!(check_elf(&hdr, "f"), Err(LoadError::Corrupt { .. })));
    }

    #[test]
    fn uid_is_ours() {
        assert_eq!(current_uid(), fs::metadata("/proc/self").unwrap().uid());
    }
}
