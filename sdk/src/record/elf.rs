//! Find a named section in a 64-bit ELF file, from its bytes alone.
//!
//! This reads the file as data: the ELF header, the section header table and
//! the section name string table. It never maps, loads or runs anything, and
//! every offset and length taken from the file is bounds-checked, so hostile
//! or truncated bytes give an [`ElfError`], never a panic. Both byte orders
//! are read; 32-bit files are refused (relive modules are 64-bit only).
#![forbid(unsafe_code)]

/// Why the bytes are not a readable 64-bit ELF file (or its section table
/// is damaged).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElfError {
    /// The file does not start with an ELF header.
    #[error("not an ELF file (no ELF header)")]
    NotElf,
    /// A 32-bit (or unknown class) ELF file.
    #[error("not a 64-bit ELF file (class {class})")]
    Not64Bit {
        /// The `EI_CLASS` byte.
        class: u8,
    },
    /// Neither little- nor big-endian.
    #[error("unknown ELF byte order ({data})")]
    UnknownByteOrder {
        /// The `EI_DATA` byte.
        data: u8,
    },
    /// A table or section the headers describe lies (partly) past the end
    /// of the file: typically a file still being written.
    #[error("{what} ends at byte {end}, the file has {len} bytes (truncated?)")]
    PastTheEnd {
        /// What: "the section header table", "section 3", ...
        what: String,
        /// Where it would end (saturated at `u64::MAX`).
        end: u64,
        /// The file's length.
        len: u64,
    },
    /// Section headers smaller than the 64 bytes of an ELF64 section header.
    #[error("section headers of {size} bytes (an ELF64 one has 64)")]
    BadEntrySize {
        /// `e_shentsize`.
        size: u16,
    },
    /// The section name string table index is not a section of the file.
    #[error("the section name table is section {index}, the file has {count}")]
    BadNameTable {
        /// `e_shstrndx` (or its extended value).
        index: u64,
        /// The number of sections.
        count: u64,
    },
    /// A section's name lies outside the name table or is not terminated.
    #[error("section {index}'s name is outside the section name table")]
    BadName {
        /// The section's index.
        index: u64,
    },
    /// The section is declared to occupy no bytes of the file (`SHT_NOBITS`).
    #[error("section `{name}` has no bytes in the file")]
    NoBits {
        /// The section's name.
        name: String,
    },
    /// More than one section has the name asked for.
    #[error("more than one section is named `{name}`")]
    Duplicate {
        /// The section's name.
        name: String,
    },
}

const EHDR_LEN: usize = 64;
const SHDR_LEN: u64 = 64;
const SHT_NOBITS: u32 = 8;
/// `e_shstrndx` value meaning "the index is in section 0's `sh_link`".
const SHN_XINDEX: u16 = 0xffff;

/// The file, with its byte order.
struct Bytes<'a> {
    bytes: &'a [u8],
    little: bool,
}

impl<'a> Bytes<'a> {
    fn len(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// The `len` bytes at `at`, or why not.
    fn range(
        &self,
        at: u64,
        len: u64,
        what: impl FnOnce() -> String,
    ) -> Result<&'a [u8], ElfError> {
        let end = at.saturating_add(len);
        if end > self.len() {
            return Err(ElfError::PastTheEnd { what: what(), end, len: self.len() });
        }
        // Both fit in the slice's length, which fits in `usize`.
        Ok(&self.bytes[at as usize..end as usize])
    }

    fn array<const N: usize>(&self, at: u64) -> Result<[u8; N], ElfError> {
        let b = self.range(at, N as u64, || format!("a header field at byte {at}"))?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    fn u16(&self, at: u64) -> Result<u16, ElfError> {
        let b = self.array(at)?;
        Ok(if self.little { u16::from_le_bytes(b) } else { u16::from_be_bytes(b) })
    }

    fn u32(&self, at: u64) -> Result<u32, ElfError> {
        let b = self.array(at)?;
        Ok(if self.little { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) })
    }

    fn u64(&self, at: u64) -> Result<u64, ElfError> {
        let b = self.array(at)?;
        Ok(if self.little { u64::from_le_bytes(b) } else { u64::from_be_bytes(b) })
    }
}

/// One section header, as far as finding a section needs it.
struct Header {
    name: u32,
    kind: u32,
    offset: u64,
    size: u64,
    link: u32,
}

struct Table<'a> {
    file: Bytes<'a>,
    offset: u64,
    entry: u64,
    count: u64,
}

impl Table<'_> {
    fn header(&self, index: u64) -> Result<Header, ElfError> {
        // `index < count` and the whole table lies inside the file.
        let at = self.offset + index * self.entry;
        Ok(Header {
            name: self.file.u32(at)?,
            kind: self.file.u32(at + 4)?,
            offset: self.file.u64(at + 24)?,
            size: self.file.u64(at + 32)?,
            link: self.file.u32(at + 40)?,
        })
    }
}

/// The bytes of the section named `name` in the 64-bit ELF file `bytes`;
/// `Ok(None)` when the file has no such section.
///
/// # Errors
/// The bytes are not a 64-bit ELF file, or its section header table, name
/// table or the section itself lies outside the file or is malformed.
///
/// ```
/// use relive_sdk::record::elf::{ElfError, section};
/// assert_eq!(section(b"not an ELF file at all", ".text"), Err(ElfError::NotElf));
/// ```
pub fn section<'a>(bytes: &'a [u8], name: &str) -> Result<Option<&'a [u8]>, ElfError> {
    if bytes.len() < EHDR_LEN || bytes[..4] != *b"\x7fELF" {
        return Err(ElfError::NotElf);
    }
    if bytes[4] != 2 {
        return Err(ElfError::Not64Bit { class: bytes[4] });
    }
    let little = match bytes[5] {
        1 => true,
        2 => false,
        data => return Err(ElfError::UnknownByteOrder { data }),
    };
    let file = Bytes { bytes, little };
    let shoff = file.u64(0x28)?;
    let shentsize = file.u16(0x3a)?;
    let shnum = file.u16(0x3c)?;
    let shstrndx = file.u16(0x3e)?;
    if shoff == 0 {
        return Ok(None);
    }
    if u64::from(shentsize) < SHDR_LEN {
        return Err(ElfError::BadEntrySize { size: shentsize });
    }
    let entry = u64::from(shentsize);
    // Section 0 must exist for the extended counts it may hold.
    file.range(shoff, entry, || "the section header table".into())?;
    let mut table = Table { file, offset: shoff, entry, count: 1 };
    let first = table.header(0)?;
    // Extended numbering: with 0 sections or an escaped index in the ELF
    // header, the real values are in section 0.
    let count = if shnum == 0 { first.size } else { u64::from(shnum) };
    let names_index = if shstrndx == SHN_XINDEX { u64::from(first.link) } else { shstrndx.into() };
    let table_len = count.saturating_mul(entry);
    table.file.range(shoff, table_len, || "the section header table".into())?;
    table.count = count;
    if names_index >= count {
        return Err(ElfError::BadNameTable { index: names_index, count });
    }
    let names = table.header(names_index)?;
    if names.kind == SHT_NOBITS {
        return Err(ElfError::BadNameTable { index: names_index, count });
    }
    let names = table.file.range(names.offset, names.size, || {
        format!("the section name table (section {names_index})")
    })?;
    let mut found = None;
    for index in 0..table.count {
        let h = table.header(index)?;
        let this = usize::try_from(h.name)
            .ok()
            .and_then(|start| names.get(start..))
            .and_then(|rest| rest.iter().position(|b| *b == 0).map(|end| &rest[..end]))
            .ok_or(ElfError::BadName { index })?;
        if this != name.as_bytes() {
            continue;
        }
        if found.is_some() {
            return Err(ElfError::Duplicate { name: name.to_owned() });
        }
        if h.kind == SHT_NOBITS {
            return Err(ElfError::NoBits { name: name.to_owned() });
        }
        found = Some(table.file.range(h.offset, h.size, || format!("section `{name}`"))?);
    }
    Ok(found)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal ELF64 file: header, then the given sections' bytes, then a
    /// name table, then the section header table (as a linker lays it out).
    pub(crate) fn elf(little: bool, sections: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = vec![0u8; EHDR_LEN];
        out[..4].copy_from_slice(b"\x7fELF");
        out[4] = 2;
        out[5] = if little { 1 } else { 2 };
        let mut headers = vec![[0u64; 5]]; // section 0: all zero
        let mut names = vec![0u8];
        let mut name_offsets = Vec::new();
        for (name, _) in sections.iter().copied().chain([(".shstrtab", &[][..])]) {
            name_offsets.push(names.len() as u64);
            names.extend_from_slice(name.as_bytes());
            names.push(0);
        }
        for (i, (_, data)) in sections.iter().enumerate() {
            headers.push([name_offsets[i], 1, out.len() as u64, data.len() as u64, 0]);
            out.extend_from_slice(data);
        }
        headers.push([name_offsets[sections.len()], 3, out.len() as u64, names.len() as u64, 0]);
        out.extend_from_slice(&names);
        let shoff = out.len() as u64;
        let put16 = |v: u16| if little { v.to_le_bytes() } else { v.to_be_bytes() };
        let put32 = |v: u32| if little { v.to_le_bytes() } else { v.to_be_bytes() };
        let put64 = |v: u64| if little { v.to_le_bytes() } else { v.to_be_bytes() };
        out[0x28..0x30].copy_from_slice(&put64(shoff));
        out[0x3a..0x3c].copy_from_slice(&put16(64));
        out[0x3c..0x3e].copy_from_slice(&put16(headers.len() as u16));
        out[0x3e..0x40].copy_from_slice(&put16(headers.len() as u16 - 1));
        for [name, kind, offset, size, link] in headers {
            let mut h = [0u8; 64];
            h[0..4].copy_from_slice(&put32(name as u32));
            h[4..8].copy_from_slice(&put32(kind as u32));
            h[24..32].copy_from_slice(&put64(offset));
            h[32..40].copy_from_slice(&put64(size));
            h[40..44].copy_from_slice(&put32(link as u32));
            out.extend_from_slice(&h);
        }
        out
    }

    #[test]
    fn finds_a_section_in_either_byte_order() {
        for little in [true, false] {
            let f = elf(little, &[(".text", b"code"), (".relive_module", b"record")]);
            assert_eq!(section(&f, ".relive_module"), Ok(Some(&b"record"[..])));
            assert_eq!(section(&f, ".text"), Ok(Some(&b"code"[..])));
            assert_eq!(section(&f, ".data"), Ok(None));
            // A prefix of a name is not the name.
            assert_eq!(section(&f, ".relive"), Ok(None));
        }
    }

    #[test]
    fn refuses_what_is_not_a_64_bit_elf_file() {
        assert_eq!(section(b"", ".x"), Err(ElfError::NotElf));
        assert_eq!(section(&[0u8; 64], ".x"), Err(ElfError::NotElf));
        let mut f = elf(true, &[]);
        f[4] = 1;
        assert_eq!(section(&f, ".x"), Err(ElfError::Not64Bit { class: 1 }));
        f[4] = 2;
        f[5] = 7;
        assert_eq!(section(&f, ".x"), Err(ElfError::UnknownByteOrder { data: 7 }));
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let f = elf(true, &[(".relive_module", b"record")]);
        for len in 0..f.len() {
            assert!(section(&f[..len], ".relive_module").is_err(), "cut at {len}");
        }
        let cut = &f[..f.len() - 1];
        assert!(
            matches!(section(cut, ".relive_module"), Err(ElfError::PastTheEnd { .. })),
            "{:?}",
            section(cut, ".relive_module")
        );
        assert!(section(cut, ".relive_module").unwrap_err().to_string().contains("truncated"));
    }

    #[test]
    fn offsets_past_the_end_are_refused() {
        let base = elf(true, &[(".relive_module", b"record")]);
        let shoff = u64::from_le_bytes(base[0x28..0x30].try_into().unwrap()) as usize;
        // Section 1's offset, then its size, far past the end; then the
        // table itself; then the name table's offset.
        for (at, value) in [
            (shoff + 64 + 24, u64::MAX - 2),
            (shoff + 64 + 32, 1 << 40),
            (0x28, u64::MAX - 10),
            (shoff + 128 + 24, base.len() as u64),
        ] {
            let mut f = base.clone();
            f[at..at + 8].copy_from_slice(&value.to_le_bytes());
            assert!(
                matches!(section(&f, ".relive_module"), Err(ElfError::PastTheEnd { .. })),
                "{at}: {:?}",
                section(&f, ".relive_module")
            );
        }
        // A name offset past the name table.
        let mut f = base.clone();
        f[shoff + 64..shoff + 68].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(section(&f, ".relive_module"), Err(ElfError::BadName { index: 1 }));
        // A name table index past the table.
        let mut f = base.clone();
        f[0x3e..0x40].copy_from_slice(&9u16.to_le_bytes());
        assert_eq!(
            section(&f, ".relive_module"),
            Err(ElfError::BadNameTable { index: 9, count: 3 })
        );
        // Headers too small, and an extended count past the end.
        let mut f = base.clone();
        f[0x3a..0x3c].copy_from_slice(&8u16.to_le_bytes());
        assert_eq!(section(&f, ".relive_module"), Err(ElfError::BadEntrySize { size: 8 }));
        let mut f = base;
        f[0x3c..0x3e].copy_from_slice(&0u16.to_le_bytes());
        f[shoff + 32..shoff + 40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(section(&f, ".relive_module"), Err(ElfError::PastTheEnd { .. })));
    }

    #[test]
    fn duplicates_and_empty_sections() {
        let f = elf(false, &[(".relive_module", b"a"), (".relive_module", b"b")]);
        assert!(matches!(section(&f, ".relive_module"), Err(ElfError::Duplicate { .. })));
        let f = elf(true, &[(".relive_module", b"")]);
        assert_eq!(section(&f, ".relive_module"), Ok(Some(&b""[..])));
    }

    #[test]
    fn hostile_bytes_never_panic() {
        // Every single-byte corruption of the header and section table.
        let base = elf(true, &[(".relive_module", b"record")]);
        for at in (0..64).chain(base.len() - 3 * 64..base.len()) {
            for v in [0u8, 1, 0x7f, 0x80, 0xff] {
                let mut f = base.clone();
                f[at] = v;
                let _ = section(&f, ".relive_module");
            }
        }
    }
}
