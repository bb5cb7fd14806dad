//! The loader: validate a module version completely before anything changes.
//!
//! The checks run in DESIGN.md's order, each a `check_*` function returning
//! its own [`LoadError`] variant; the first failure wins.
//!
//! 1. The file, without running any of its code. No directory on its
//!    canonical path is writable by others (sticky `/tmp` included). It is
//!    opened once, non-blocking, and everything after that goes through the
//!    descriptor, never the path: it is a regular file (not a FIFO or a
//!    device, which could block or never end), not writable by other users,
//!    owned by us or root, and not over the host's size limit (`fstat`); its
//!    ELF header and program headers are read and checked before the rest of
//!    it, so a file that is not a library is refused without being read whole;
//!    then the kernel copies its bytes into a private file, created
//!    exclusively in a 0700 directory, and the copy is hashed as it is made
//!    (the hash is the build's identity; `private_copy.rs`, decision 0038):
//!    a rebuild at the same path is new code, and nobody can change what we
//!    map. The copy's headers are checked again; the signature (`<file>.sig`,
//!    a regular file of at most [`MAX_SIGNATURE_SIZE`] bytes) verifies
//!    against the copy when the host requires one; the build is not marked
//!    bad; the copy is renamed `<module>-<hash>-<n>.so`. (The rules and why:
//!    docs/decisions/0003-loader-trust.md.)
//! 2. `dlopen(RTLD_NOW | RTLD_LOCAL)` of the private copy, symbol lookup.
//! 3. Magic, ABI version, declaration and table sizes, required functions.
//! 4. Target triple and panic strategy.
//! 5. Name and semver (here); same version and build (in the code server,
//!    against the running version: a no-op; another build is refused unless
//!    forced).
//! 6. Schemas, against the running version (in the code server).
//! 7. Dependencies (issue 15), against the versions that would be current
//!    (in the code server, `dependency.rs`).
//! 8. The new version's `on_load` (issue 15; in the code server): it may
//!    veto. Only then does the code server change anything.
//!
//! A static source (a `declaration!` linked into the host) skips the file
//! steps and runs 3 to 6 through exactly the same code.

use super::bad_marks::BadMarks;
use super::error::LoadError;
use super::interface::{Interface, Part, Shape, Widest, compatible, extends};
use super::private_copy::{self, Written};
use super::version::{BuildHash, Origin, Version};
use crate::ffi;
use crate::ffi::decl::{DeclError, Declaration, Table};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use relive_codec::compat::{StateCompat, state_compat};
use relive_sdk::abi::{ModuleDecl, flags};
use rustix::fs::{FileType, Mode, OFlags};
use sha2::{Digest, Sha256};
use std::fs;
use std::os::unix::fs::MetadataExt;
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
    max_library_size: u64,
}

/// The largest library a code server reads unless configured otherwise
/// ([`ModuleTableBuilder::max_library_size`](super::ModuleTableBuilder::max_library_size)): 1 GiB.
pub const DEFAULT_MAX_LIBRARY_SIZE: u64 = 1 << 30;

/// The largest `<file>.sig` the loader reads: a signature is 128 hex digits,
/// so anything over 1 KiB is not one.
pub const MAX_SIGNATURE_SIZE: u64 = 1024;

/// A module version that passed steps 1–5a and is not yet known to the code
/// server.
pub(crate) struct Checked {
    pub(crate) version: Version,
    pub(crate) forward_logs: bool,
}

impl Loader {
    pub(crate) fn new(
        dir: PathBuf,
        trusted_keys: Vec<VerifyingKey>,
        max_library_size: u64,
    ) -> Self {
        Loader { dir, trusted_keys, max_library_size }
    }

    /// Steps 1 to 5a for `source`, expected to declare module `name`
    /// (`None`: whatever it declares, for inspection), refused if `bad`
    /// marks its build (unless `force`).
    pub(crate) fn load(
        &self,
        name: Option<&str>,
        source: &Source,
        bad: &BadMarks,
        force: bool,
    ) -> Result<Checked, LoadError> {
        match source {
            Source::Dylib(path) => self.load_dylib(name, path, bad, force),
            Source::Static(decl) => load_static(name, decl, bad, force),
        }
    }

    fn load_dylib(
        &self,
        name: Option<&str>,
        path: &Path,
        bad: &BadMarks,
        force: bool,
    ) -> Result<Checked, LoadError> {
        let file = path.display().to_string();
        // Step 1.
        let opened = open_library(path, &file, self.max_library_size)?;
        check_headers(&opened.file, opened.size, &file)?;
        let safe_name: String = name
            .unwrap_or("module")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let (written, hash) = self.private_copy(&safe_name, opened, &file)?;
        let checked = self.check_copy(&safe_name, &written, hash, path, &file, bad, force);
        let (hash, copy) = match checked {
            Ok(checked) => checked,
            Err(e) => {
                let _ = fs::remove_file(&written.path);
                return Err(e);
            }
        };
        drop(written);
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
        let text = read_signature(&signature_path(path), file)?;
        let mut raw = [0u8; 64];
        hex::decode_to_slice(text.trim_ascii(), &mut raw)
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

    /// Step 1: copy the `size` bytes of the checked descriptor into a new
    /// private file, `<module>-<n>.part` in the 0700 directory, created
    /// exclusively (mode 0600), by the kernel, and hash the copy while it is
    /// made (`private_copy.rs`). The copy and the build's hash.
    fn private_copy(
        &self,
        safe_name: &str,
        opened: OpenedLibrary,
        file: &str,
    ) -> Result<(Written, BuildHash), LoadError> {
        let part = || format!("{safe_name}-{}.part", next_copy_number());
        private_copy::make(&self.dir, part, &opened.file, opened.size)
            .map_err(|source| LoadError::PrivateCopy { file: file.to_owned(), source })
    }

    /// Step 1 on the private copy, the bytes `dlopen` maps next, whose
    /// `hash` (the build's identity) was taken as it was made: its ELF
    /// header and program headers checked again (read from the copy), its
    /// signature verified and its build not marked bad (through a read-only
    /// mapping of it, made only when a signature or a SHA-256 mark needs
    /// the bytes); then renamed to
    /// `<module>-<hash>-<n>.so` (never over another file). The hash and
    /// the copy's name.
    #[allow(clippy::too_many_arguments)]
    fn check_copy(
        &self,
        safe_name: &str,
        written: &Written,
        hash: BuildHash,
        path: &Path,
        file: &str,
        bad: &BadMarks,
        force: bool,
    ) -> Result<(BuildHash, PathBuf), LoadError> {
        let err = |source| LoadError::PrivateCopy { file: file.to_owned(), source };
        // The copy's own headers: the library may have changed in place
        // since its headers were checked.
        check_headers(&written.file, written.len, file)?;
        // Its bytes, only for whoever needs them all: the signature and
        // SHA-256 marks (a mapping populated at once is ~0.3 ms of a load).
        let bytes = if !self.trusted_keys.is_empty() || bad.needs_bytes() {
            let len = usize::try_from(written.len).map_err(|_| {
                err(std::io::Error::new(std::io::ErrorKind::FileTooLarge, "larger than memory"))
            })?;
            let bytes = ffi::mapped::Mapped::private_copy(&written.file, len).map_err(err)?;
            self.check_signature(path, file, &bytes)?;
            Some(bytes)
        } else {
            None
        };
        if bad.is_bad(&hash, bytes.as_deref()) && !force {
            return Err(LoadError::BadBuild { file: file.to_owned(), hash });
        }
        drop(bytes);
        loop {
            let copy =
                self.dir.join(format!("{safe_name}-{}-{}.so", hash.short(), next_copy_number()));
            match rustix::fs::renameat_with(
                rustix::fs::CWD,
                &written.path,
                rustix::fs::CWD,
                &copy,
                rustix::fs::RenameFlags::NOREPLACE,
            ) {
                Ok(()) => return Ok((hash, copy)),
                // A file left behind by an earlier run of this directory: skip it.
                Err(rustix::io::Errno::EXIST) => continue,
                Err(e) => return Err(err(e.into())),
            }
        }
    }
}

/// A number for a private copy's name. One counter for the whole process,
/// not one per table: a version that outlives its table removes its copy by
/// name when it drops, and a later table on the same directory (a state
/// dir's `lib/`) must not have reused that name.
fn next_copy_number() -> u64 {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    // ORDERING: only uniqueness matters.
    SEQ.fetch_add(1, Ordering::Relaxed)
}

/// Read an ed25519 public key stored as 64 hex digits (as `relive keygen`
/// writes `<key>.pub`), for [`ModuleTableBuilder::trust_key`](super::ModuleTableBuilder::trust_key).
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
    bad: &BadMarks,
    force: bool,
) -> Result<Checked, LoadError> {
    let file = format!("static:{}", name.unwrap_or(""));
    let (decl, table) = decl_error(ffi::decl::read_static(decl), &file)?;
    let semver = check_decl(name, &decl, &file)?;
    let hash = static_hash(&decl, &table);
    if bad.is_bad(&hash, None) && !force {
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

/// A library opened once for step 1: every later check and every byte read
/// goes through this descriptor, never through the path again, so swapping
/// the file (or a symlink to it) after the checks changes nothing.
#[derive(Debug)]
struct OpenedLibrary {
    file: fs::File,
    /// Its size when the descriptor was checked.
    size: u64,
}

/// Open `path` read-only and non-blocking (opening a FIFO would otherwise
/// wait for a writer), never as our controlling terminal, with `extra` flags,
/// and `fstat` the descriptor.
fn open_nonblocking(path: &Path, extra: OFlags) -> std::io::Result<(fs::File, rustix::fs::Stat)> {
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC | extra;
    let fd = rustix::fs::open(path, flags, Mode::empty())?;
    let stat = rustix::fs::fstat(&fd)?;
    Ok((fs::File::from(fd), stat))
}

/// What a file of mode `st_mode` is, if it is not a regular file.
fn not_regular(st_mode: u32) -> Option<&'static str> {
    match FileType::from_raw_mode(st_mode) {
        FileType::RegularFile => None,
        FileType::Directory => Some("directory"),
        FileType::Symlink => Some("symbolic link"),
        FileType::Fifo => Some("FIFO"),
        FileType::Socket => Some("socket"),
        FileType::CharacterDevice => Some("character device"),
        FileType::BlockDevice => Some("block device"),
        FileType::Unknown => Some("unknown"),
    }
}

/// Step 1, without running code or reading a byte: the file exists; no
/// directory it is in (its canonical path's parent and every ancestor up to
/// `/`) is writable by others; it is a regular file, not writable by others,
/// owned by us or root and not over `max` bytes — judged from the descriptor
/// it will be read from. (docs/decisions/0003-loader-trust.md has the rules.)
///
/// What is opened is the canonical path, without following a symbolic link
/// there: the file whose directories were checked. Its path is `stat`ed first
/// only so that a device is refused without even being opened (opening some
/// has effects); the descriptor's `fstat` is what decides.
fn open_library(path: &Path, file: &str, max: u64) -> Result<OpenedLibrary, LoadError> {
    let io_error = |source: std::io::Error| match source.kind() {
        std::io::ErrorKind::NotFound => LoadError::NotFound { file: file.to_owned() },
        _ => LoadError::Unreadable { file: file.to_owned(), source },
    };
    let not_regular_file =
        |kind| LoadError::NotARegularFile { file: file.to_owned(), what: "library", kind };
    let canonical = fs::canonicalize(path).map_err(io_error)?;
    // Every directory on the path: others may not write it — unless it is
    // sticky (as /tmp) and the entry below it on the path is ours or root's,
    // which nobody else may then remove, rename or replace.
    let me = current_uid();
    let mut below = canonical.as_path();
    for dir in canonical.ancestors().skip(1) {
        let mode = fs::symlink_metadata(dir).map_err(io_error)?.mode() & 0o7777;
        let entry_owner = fs::symlink_metadata(below).map_err(io_error)?.uid();
        let guarded = mode & 0o1000 != 0 && (entry_owner == me || entry_owner == 0);
        if mode & 0o002 != 0 && !guarded {
            return Err(LoadError::UnsafeDirectory {
                file: file.to_owned(),
                dir: dir.into(),
                mode,
            });
        }
        below = dir;
    }
    if let Some(kind) = not_regular(fs::symlink_metadata(&canonical).map_err(io_error)?.mode()) {
        return Err(not_regular_file(kind));
    }
    let (opened, stat) = open_nonblocking(&canonical, OFlags::NOFOLLOW).map_err(io_error)?;
    if let Some(kind) = not_regular(stat.st_mode) {
        return Err(not_regular_file(kind));
    }
    let mode = stat.st_mode & 0o7777;
    if mode & 0o002 != 0 {
        return Err(LoadError::WritableByOthers { file: file.to_owned(), mode });
    }
    if stat.st_uid != current_uid() && stat.st_uid != 0 {
        return Err(LoadError::ForeignOwner { file: file.to_owned(), uid: stat.st_uid });
    }
    let size = u64::try_from(stat.st_size).unwrap_or(0);
    if size > max {
        return Err(LoadError::FileTooLarge { file: file.to_owned(), what: "library", size, max });
    }
    Ok(OpenedLibrary { file: opened, size })
}

/// Step 1: the ELF header and program headers of an opened library, read
/// from its descriptor and checked before anything else is, so a file that
/// is not a library is refused after reading 64 bytes, not all of it. (The
/// whole file is checked again on the private copy: it may have changed
/// size since its `fstat`.)
fn check_headers(lib: &fs::File, size: u64, file: &str) -> Result<(), LoadError> {
    use std::os::unix::fs::FileExt;
    let unreadable = |source| LoadError::Unreadable { file: file.to_owned(), source };
    let mut head = [0u8; 64];
    let mut got = 0;
    while got < head.len() {
        match lib.read_at(&mut head[got..], got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(unreadable(e)),
        }
    }
    let layout = elf_header(&head[..got], size, file)?;
    let mut table = vec![0u8; layout.table_len()];
    lib.read_exact_at(&mut table, layout.phoff).map_err(unreadable)?;
    elf_segments(&layout, &table, size, file)
}

/// Step 1: the text of `<file>.sig`, bounded: a FIFO or a device is refused
/// before any read (as for the library), and at most
/// [`MAX_SIGNATURE_SIZE`] bytes are read.
fn read_signature(sig_path: &Path, file: &str) -> Result<Vec<u8>, LoadError> {
    use std::io::Read;
    let io_error = |source: std::io::Error| match source.kind() {
        std::io::ErrorKind::NotFound => LoadError::Unsigned { file: file.to_owned() },
        _ => LoadError::SignatureUnreadable { file: file.to_owned(), source },
    };
    let not_regular_file =
        |kind| LoadError::NotARegularFile { file: file.to_owned(), what: "signature", kind };
    let too_large = |size| LoadError::FileTooLarge {
        file: file.to_owned(),
        what: "signature",
        size,
        max: MAX_SIGNATURE_SIZE,
    };
    if let Some(kind) = not_regular(fs::metadata(sig_path).map_err(io_error)?.mode()) {
        return Err(not_regular_file(kind));
    }
    let (opened, stat) = open_nonblocking(sig_path, OFlags::empty()).map_err(io_error)?;
    if let Some(kind) = not_regular(stat.st_mode) {
        return Err(not_regular_file(kind));
    }
    let size = u64::try_from(stat.st_size).unwrap_or(0);
    if size > MAX_SIGNATURE_SIZE {
        return Err(too_large(size));
    }
    let mut text = Vec::new();
    (&opened).take(MAX_SIGNATURE_SIZE + 1).read_to_end(&mut text).map_err(io_error)?;
    if text.len() as u64 > MAX_SIGNATURE_SIZE {
        return Err(too_large(text.len() as u64)); // it grew since the fstat
    }
    Ok(text)
}

/// The uid whose files we trust (besides root's): the *effective* uid, the
/// identity the kernel checks our own accesses against. The real uid would be
/// wrong in a set-uid host: it is whoever started the program, and trusting
/// their files would let them run code as the host's user.
fn current_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Where an ELF64 shared object's program headers are, from its ELF header.
#[derive(Debug)]
struct ElfLayout {
    little_endian: bool,
    phoff: u64,
    phnum: u16,
}

/// The size of an ELF64 program header; `dlopen` accepts no other.
const PHENTSIZE: u16 = 56;

impl ElfLayout {
    fn table_len(&self) -> usize {
        usize::from(self.phnum) * usize::from(PHENTSIZE)
    }
}

fn u16_at(b: &[u8], at: usize, le: bool) -> u16 {
    let b = [b[at], b[at + 1]];
    if le { u16::from_le_bytes(b) } else { u16::from_be_bytes(b) }
}

fn u64_at(b: &[u8], at: usize, le: bool) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    if le { u64::from_le_bytes(v) } else { u64::from_be_bytes(v) }
}

/// Step 1: the ELF header (`head`, the first 64 bytes or fewer) of a file of
/// `len` bytes: an ELF64 shared object whose header tables lie inside the file.
fn elf_header(head: &[u8], len: u64, file: &str) -> Result<ElfLayout, LoadError> {
    let not =
        |reason: &str| LoadError::NotALibrary { file: file.to_owned(), reason: reason.into() };
    let corrupt = |reason: String| LoadError::Corrupt { file: file.to_owned(), reason };
    if head.len() < 64 || &head[..4] != b"\x7fELF" {
        return Err(not("no ELF header"));
    }
    if head[4] != 2 {
        return Err(not("not a 64-bit ELF file"));
    }
    let le = match head[5] {
        1 => true,
        2 => false,
        _ => return Err(not("unknown ELF byte order")),
    };
    if u16_at(head, 16, le) != 3 {
        return Err(not("an ELF file, but not a shared object"));
    }
    let table_end = |off: u64, entsize: u16, num: u16| {
        off.checked_add(u64::from(entsize) * u64::from(num)).filter(|end| *end <= len)
    };
    let (phoff, phentsize, phnum) =
        (u64_at(head, 32, le), u16_at(head, 54, le), u16_at(head, 56, le));
    let (shoff, shentsize, shnum) =
        (u64_at(head, 40, le), u16_at(head, 58, le), u16_at(head, 60, le));
    if phnum > 0 && phentsize != PHENTSIZE {
        return Err(corrupt(format!("program headers of {phentsize} bytes, not {PHENTSIZE}")));
    }
    if table_end(phoff, PHENTSIZE, phnum).is_none() {
        return Err(corrupt(format!("program headers end past the file's {len} bytes")));
    }
    if table_end(shoff, shentsize, shnum).is_none() {
        return Err(corrupt(format!("section headers end past the file's {len} bytes")));
    }
    Ok(ElfLayout { little_endian: le, phoff, phnum })
}

/// Step 1: every segment the program headers (`table`) describe lies inside
/// a file of `len` bytes.
///
/// `dlopen` maps segments at the offsets the headers give; a segment past the
/// end of the file (a library still being written, a truncated copy) maps
/// pages with nothing behind them, and touching them kills the process with
/// SIGBUS.
fn elf_segments(layout: &ElfLayout, table: &[u8], len: u64, file: &str) -> Result<(), LoadError> {
    let le = layout.little_endian;
    for (i, ph) in table.chunks_exact(usize::from(PHENTSIZE)).enumerate() {
        let (offset, filesz) = (u64_at(ph, 8, le), u64_at(ph, 32, le));
        if offset.checked_add(filesz).is_none_or(|end| end > len) {
            return Err(LoadError::Corrupt {
                file: file.to_owned(),
                reason: format!(
                    "segment {i} ends at byte {}, the file has {len} (truncated?)",
                    offset.saturating_add(filesz)
                ),
            });
        }
    }
    Ok(())
}

/// Step 1: a complete ELF64 shared object, judged from its headers alone
/// ([`elf_header`], then [`elf_segments`]): every header table and every
/// segment lies inside `bytes`.
#[cfg(any(test, fuzzing))]
pub(crate) fn check_elf(bytes: &[u8], file: &str) -> Result<(), LoadError> {
    let len = bytes.len() as u64;
    let layout = elf_header(&bytes[..bytes.len().min(64)], len, file)?;
    // `elf_header` checked that the table lies inside `bytes`; never assume it.
    let start = usize::try_from(layout.phoff).unwrap_or(usize::MAX);
    let Some(table) = start.checked_add(layout.table_len()).and_then(|end| bytes.get(start..end))
    else {
        let reason = format!("program headers end past the file's {len} bytes");
        return Err(LoadError::Corrupt { file: file.to_owned(), reason });
    };
    elf_segments(&layout, table, len, file)
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
    semver::Version::parse(&decl.version).map_err(|source| LoadError::BadVersion {
        file,
        version: decl.version.clone(),
        source,
    })
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
    widest: Option<&Widest>,
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
    // issue 15: interfaces that grow — the new version extends the running
    // one, and is compatible with the types callers use; init args equal.
    if let Some(running) = running {
        let sides = (
            format!("running version {}", running.version()),
            format!("new version {}", new.version()),
        );
        for part in [Part::Message, Part::Reply, Part::Args] {
            let (old, now) = (Shape::of_version(running, part), Shape::of_version(new, part));
            if let Err(variant) = extends(part, &old, &now, (&sides.0, &sides.1)) {
                let (expected, found) = (old.fingerprint(), now.fingerprint());
                return Err(LoadError::InterfaceMismatch {
                    file,
                    what: part,
                    expected,
                    found,
                    variant,
                });
            }
        }
    }
    // issue 17: functions — every function of the running version, with
    // the same types.
    if let Some(running) = running
        && let Err((function, problem)) = super::function::functions_kept(running, new)
    {
        return Err(LoadError::FunctionMismatch {
            file,
            module: new.name().to_owned(),
            function,
            problem,
        });
    }
    if let Some(widest) = widest {
        let new_side = format!("new version {}", new.version());
        for part in [Part::Message, Part::Reply] {
            let (Some(before), now) = (widest.shape(part), Shape::of_version(new, part)) else {
                continue;
            };
            if let Err(variant) = compatible(part, &before, &now, ("an earlier version", &new_side))
            {
                let (expected, found) = (before.fingerprint(), now.fingerprint());
                return Err(LoadError::InterfaceMismatch {
                    file,
                    what: part,
                    expected,
                    found,
                    variant,
                });
            }
        }
    }
    if let Some(callers) = interface {
        let new_side = format!("new version {}", new.version());
        for part in [Part::Message, Part::Reply, Part::Args] {
            let (theirs, now) = (callers.shape(part), Shape::of_version(new, part));
            // Init args have no variants: compatible is equal for them.
            if let Err(variant) = compatible(part, &theirs, &now, ("the callers' type", &new_side))
            {
                let (expected, found) = (theirs.fingerprint(), now.fingerprint());
                return Err(LoadError::InterfaceMismatch {
                    file,
                    what: part,
                    expected,
                    found,
                    variant,
                });
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

    /// The smallest file `check_elf` accepts (an ELF64 shared object with no
    /// header tables), followed by `tail`.
    fn tiny_library(tail: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0u8; 64];
        bytes[..4].copy_from_slice(b"\x7fELF");
        bytes[4] = 2;
        bytes[5] = 1;
        bytes[16] = 3;
        bytes.extend_from_slice(tail);
        bytes
    }

    #[test]
    fn the_bytes_read_are_those_of_the_file_that_was_checked() {
        // Another user's trick: let the loader check a good file, then swap
        // the path to another one before it reads. The loader copies (and
        // so hashes, signs and maps) what it opened and checked.
        let dir = relive_test_support::scratch_dir();
        let path = dir.path().join("lib.so");
        let checked = tiny_library(b"the file that was checked");
        fs::write(&path, &checked).unwrap();
        let opened = open_library(&path, "lib.so", DEFAULT_MAX_LIBRARY_SIZE).unwrap();

        let other = dir.path().join("other.so");
        fs::write(&other, tiny_library(b"another file, renamed over it")).unwrap();
        fs::rename(&other, &path).unwrap();

        check_headers(&opened.file, opened.size, "lib.so").unwrap();
        let private = relive_test_support::scratch_dir();
        let loader = Loader::new(private.path().to_owned(), Vec::new(), DEFAULT_MAX_LIBRARY_SIZE);
        let (written, hash) = loader.private_copy("lib", opened, "lib.so").unwrap();
        let read = fs::read(&written.path).unwrap();
        assert_eq!(String::from_utf8_lossy(&read[64..]), "the file that was checked");
        assert_eq!(read, checked);
        // What is hashed is the private copy.
        assert_eq!(hash, BuildHash::of_library(&checked));
        let bad = BadMarks::default();
        let (hash, copy) =
            loader.check_copy("lib", &written, hash, &path, "lib.so", &bad, false).unwrap();
        assert_eq!(hash, BuildHash::of_library(&checked));
        assert_eq!(fs::read(&copy).unwrap(), checked);
        assert!(!written.path.exists(), "the copy was renamed, not copied again");
    }

    #[test]
    fn uid_is_ours() {
        assert_eq!(current_uid(), fs::metadata("/proc/self").unwrap().uid());
    }
}
