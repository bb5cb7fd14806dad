//! The module record: a library's module name and version, readable from
//! the file without loading it.
//!
//! [`export_module!`](crate::export_module) places one small record in the
//! library's ELF section [`SECTION`] (`.relive_module`). A tool that needs
//! to know which module a library is — `relive watch`, before it asks a host
//! to upgrade — reads it with [`read`], which parses the file's section
//! headers ([`elf::section`]) and never `dlopen`s it, so none of the
//! library's code (its constructors included) runs.
//!
//! The record is used for naming only. It is not trusted for anything else:
//! a host that loads the library validates everything from the declaration
//! the library's symbol returns, as it always did.
//!
//! Layout, version 1 (every integer little-endian, whatever the target):
//!
//! | bytes | field |
//! |---|---|
//! | 8 | [`MAGIC`], `b"RELIVE\0M"` |
//! | 2 | record version, [`RECORD_VERSION`] (1) |
//! | 2 | the record's total length in bytes, these 12 header bytes included |
//! | 2 + n | the module name: its length n, then n bytes of UTF-8 |
//! | 2 + m | the module version (semver): its length m, then m bytes of UTF-8 |
//!
//! Why here: the SDK writes the record (through `export_module!`), so the
//! writer and the reader of the format live in one crate and are tested
//! against each other; the runtime depends on the SDK and the CLI may, so
//! both can read a record without loading code. This module and [`elf`] are
//! plain safe Rust (`forbid(unsafe_code)`); only the `#[used]
//! #[unsafe(link_section)]` static that holds the record is generated from
//! `abi/`, the SDK's one place for `unsafe`.
#![forbid(unsafe_code)]

pub mod elf;

/// The ELF section holding a library's module record.
pub const SECTION: &str = ".relive_module";

/// The first eight bytes of a module record.
pub const MAGIC: [u8; 8] = *b"RELIVE\0M";

/// The record layout this SDK writes and reads.
pub const RECORD_VERSION: u16 = 1;

/// The longest name or version a record holds (as the declaration's strings).
pub const MAX_FIELD: usize = 4096;

/// The magic, the record version and the record length.
const HEADER: usize = 12;

/// What a module record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleRecord {
    /// The module name (`Module::NAME`).
    pub name: String,
    /// The version string the library declares (checked as semver by hosts).
    pub version: String,
}

/// Why a library's module record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The file is not a readable ELF file.
    #[error(transparent)]
    Elf(#[from] elf::ElfError),
    /// The library has no `.relive_module` section.
    #[error(
        "no relive module record (ELF section `{SECTION}`): not a relive module, or one built \
         with an older relive-sdk; rebuild it with this SDK"
    )]
    Missing,
    /// The section does not start with [`MAGIC`].
    #[error("the `{SECTION}` section does not hold a relive module record (magic {found:02x?})")]
    BadMagic {
        /// The first bytes found.
        found: Vec<u8>,
    },
    /// A record version this SDK does not read.
    #[error(
        "module record version {found}, this relive reads version {RECORD_VERSION} (a newer SDK \
         built it?)"
    )]
    UnsupportedVersion {
        /// The record version found.
        found: u16,
    },
    /// The record is shorter than its fields, or its length disagrees with
    /// them.
    #[error("malformed module record: {0}")]
    Malformed(String),
    /// A name or version that is not UTF-8.
    #[error("the module record's {0} is not UTF-8")]
    NotUtf8(&'static str),
    /// Bytes that are not padding after the record (two records in one
    /// library?).
    #[error("{0} unexpected bytes after the module record (more than one module in the library?)")]
    Trailing(usize),
}

/// The bytes of the record for `name` and `version`.
pub const fn encoded_len(name: &str, version: &str) -> usize {
    HEADER + 2 + name.len() + 2 + version.len()
}

const fn put(out: &mut [u8], at: usize, bytes: &[u8]) -> usize {
    let mut i = 0;
    while i < bytes.len() {
        out[at + i] = bytes[i];
        i += 1;
    }
    at + bytes.len()
}

/// The record for `name` and `version`, built at compile time; `N` must be
/// [`encoded_len`]`(name, version)`. Fails to compile (a panic in a constant)
/// when `N` is wrong or a field is longer than [`MAX_FIELD`].
pub const fn encode<const N: usize>(name: &str, version: &str) -> [u8; N] {
    assert!(N == encoded_len(name, version), "record length mismatch");
    assert!(name.len() <= MAX_FIELD, "module name too long for a module record");
    assert!(version.len() <= MAX_FIELD, "module version too long for a module record");
    let mut out = [0u8; N];
    let at = put(&mut out, 0, &MAGIC);
    let at = put(&mut out, at, &RECORD_VERSION.to_le_bytes());
    let at = put(&mut out, at, &(N as u16).to_le_bytes());
    let at = put(&mut out, at, &(name.len() as u16).to_le_bytes());
    let at = put(&mut out, at, name.as_bytes());
    let at = put(&mut out, at, &(version.len() as u16).to_le_bytes());
    put(&mut out, at, version.as_bytes());
    out
}

fn u16_at(bytes: &[u8], at: usize, what: &str) -> Result<u16, RecordError> {
    bytes
        .get(at..at + 2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .ok_or_else(|| RecordError::Malformed(format!("ends before the {what}")))
}

/// A length-prefixed UTF-8 field at `at`; returns it and where it ends.
fn field<'a>(
    record: &'a [u8],
    at: usize,
    what: &'static str,
) -> Result<(&'a str, usize), RecordError> {
    let len = usize::from(u16_at(record, at, what)?);
    let bytes = record
        .get(at + 2..at + 2 + len)
        .ok_or_else(|| RecordError::Malformed(format!("the {what} runs past the record's end")))?;
    let text = std::str::from_utf8(bytes).map_err(|_| RecordError::NotUtf8(what))?;
    Ok((text, at + 2 + len))
}

/// Decode the contents of a `.relive_module` section.
///
/// # Errors
/// Bad magic, an unknown record version, a malformed record, or bytes other
/// than zero padding after it.
pub fn decode(section: &[u8]) -> Result<ModuleRecord, RecordError> {
    let magic = section.get(..MAGIC.len()).unwrap_or(section);
    if magic != MAGIC {
        return Err(RecordError::BadMagic { found: magic.to_vec() });
    }
    let version = u16_at(section, 8, "record version")?;
    if version != RECORD_VERSION {
        return Err(RecordError::UnsupportedVersion { found: version });
    }
    let total = usize::from(u16_at(section, 10, "record length")?);
    let record = section.get(..total).ok_or_else(|| {
        RecordError::Malformed(format!(
            "says {total} bytes, the section has {} (truncated?)",
            section.len()
        ))
    })?;
    let (name, at) = field(record, HEADER, "module name")?;
    let (module_version, end) = field(record, at, "module version")?;
    if end != total {
        return Err(RecordError::Malformed(format!("says {total} bytes, its fields take {end}")));
    }
    if name.is_empty() {
        return Err(RecordError::Malformed("names no module".into()));
    }
    let rest = &section[total..];
    if rest.iter().any(|b| *b != 0) {
        return Err(RecordError::Trailing(rest.len()));
    }
    Ok(ModuleRecord { name: name.to_owned(), version: module_version.to_owned() })
}

/// The module record of the library whose file bytes are `elf`, found
/// without loading it.
///
/// # Errors
/// The bytes are not a readable 64-bit ELF file, have no `.relive_module`
/// section ([`RecordError::Missing`]: a library built with an older SDK, or
/// not a relive module), or its record does not decode.
pub fn read(elf: &[u8]) -> Result<ModuleRecord, RecordError> {
    let section = elf::section(elf, SECTION)?.ok_or(RecordError::Missing)?;
    decode(section)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: &str = "counter";
    const VERSION: &str = "2.1.0-rc.1";
    const LEN: usize = encoded_len(NAME, VERSION);
    static GOOD: [u8; LEN] = encode::<LEN>(NAME, VERSION);

    fn record() -> ModuleRecord {
        ModuleRecord { name: NAME.into(), version: VERSION.into() }
    }

    #[test]
    fn a_good_record_round_trips() {
        assert_eq!(&GOOD[..8], b"RELIVE\0M");
        assert_eq!(decode(&GOOD), Ok(record()));
        // Zero padding after the record (section alignment) is fine.
        let mut padded = GOOD.to_vec();
        padded.extend([0; 5]);
        assert_eq!(decode(&padded), Ok(record()));
    }

    #[test]
    fn a_truncated_record_is_refused() {
        for len in 0..LEN {
            assert!(decode(&GOOD[..len]).is_err(), "cut at {len}");
        }
        assert!(matches!(decode(&GOOD[..LEN - 1]), Err(RecordError::Malformed(_))));
    }

    #[test]
    fn bad_magic_and_unknown_versions_are_refused() {
        let mut bad = GOOD;
        bad[0] = b'X';
        assert!(matches!(decode(&bad), Err(RecordError::BadMagic { .. })));
        let mut newer = GOOD;
        newer[8] = 2;
        assert_eq!(decode(&newer), Err(RecordError::UnsupportedVersion { found: 2 }));
    }

    #[test]
    fn lengths_past_the_end_are_refused() {
        // The record's length, then the name's, then the version's.
        for (at, value) in [(10, u16::MAX), (12, u16::MAX), (12 + 2 + NAME.len(), 300)] {
            let mut bad = GOOD;
            bad[at..at + 2].copy_from_slice(&value.to_le_bytes());
            assert!(matches!(decode(&bad), Err(RecordError::Malformed(_))), "{at}");
        }
        // A record length shorter than its fields.
        let mut bad = GOOD;
        bad[10..12].copy_from_slice(&(LEN as u16 - 1).to_le_bytes());
        assert!(matches!(decode(&bad), Err(RecordError::Malformed(_))));
    }

    #[test]
    fn two_records_or_garbage_after_one_are_refused() {
        let mut two = GOOD.to_vec();
        two.extend_from_slice(&GOOD);
        assert_eq!(decode(&two), Err(RecordError::Trailing(LEN)));
    }

    #[test]
    fn not_utf8_and_empty_names_are_refused() {
        let mut bad = GOOD;
        bad[14] = 0xff;
        assert_eq!(decode(&bad), Err(RecordError::NotUtf8("module name")));
        const EMPTY: [u8; encoded_len("", "1.0.0")] =
            encode::<{ encoded_len("", "1.0.0") }>("", "1.0.0");
        assert!(matches!(decode(&EMPTY), Err(RecordError::Malformed(_))));
    }

    #[test]
    fn read_finds_the_record_in_an_elf_file() {
        let f = elf::tests::elf(true, &[(".text", b"code"), (SECTION, &GOOD)]);
        assert_eq!(read(&f), Ok(record()));
        let f = elf::tests::elf(false, &[(SECTION, &GOOD)]);
        assert_eq!(read(&f), Ok(record()));
        let old_sdk = elf::tests::elf(true, &[(".text", b"code")]);
        assert_eq!(read(&old_sdk), Err(RecordError::Missing));
        assert!(read(&f[..f.len() - 10]).unwrap_err().to_string().contains("truncated"));
    }
}
