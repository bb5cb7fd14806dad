//! The bad-build marks, and the two hashes they may be under (issue 19).
//!
//! A build's identity ([`BuildHash`]) is the BLAKE3 hash of its library's
//! bytes (before issue 19: SHA-256; static builds keep their SHA-256 of the
//! declaration). A state directory of format 1 holds marks made with
//! SHA-256: they are kept apart, and while any is held, a library's SHA-256
//! is computed too and checked against them — so a build marked bad before
//! the change is still refused after it, and a host without such marks
//! never pays for a second hash. (docs/decisions/0032-load-path.md.)

use super::version::BuildHash;
use std::collections::BTreeMap;

/// The bad builds, each with the module it was marked for.
#[derive(Debug, Default, Clone)]
pub(crate) struct BadMarks {
    /// Marks under the build's identity (BLAKE3 for libraries).
    pub(crate) marks: BTreeMap<BuildHash, String>,
    /// Marks a state file of format 1 held: SHA-256 of the library's bytes
    /// (or a static build's identity, which did not change).
    pub(crate) sha256: BTreeMap<BuildHash, String>,
}

impl BadMarks {
    /// Whether the build `hash` (of the library `bytes`, if it came from a
    /// file) is marked bad.
    pub(crate) fn is_bad(&self, hash: &BuildHash, bytes: Option<&[u8]>) -> bool {
        self.marks.contains_key(hash)
            || self.sha256.contains_key(hash)
            || (!self.sha256.is_empty()
                && bytes.is_some_and(|b| self.sha256.contains_key(&BuildHash::sha256_of(b))))
    }

    /// Whether [`is_bad`](Self::is_bad) needs a library's bytes: SHA-256
    /// marks are held (else the loader does not map its copy for them).
    pub(crate) fn needs_bytes(&self) -> bool {
        !self.sha256.is_empty()
    }

    /// Whether `hash` is marked, under either hash.
    pub(crate) fn contains(&self, hash: &BuildHash) -> bool {
        self.marks.contains_key(hash) || self.sha256.contains_key(hash)
    }

    /// Mark `hash` bad for `module`.
    pub(crate) fn insert(&mut self, hash: BuildHash, module: String) {
        self.marks.insert(hash, module);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_made_with_sha256_still_refuses_its_build() {
        let library = b"\x7fELF and the rest of a library";
        let mut marks = BadMarks::default();
        assert!(!marks.is_bad(&BuildHash::of_library(library), Some(library)));
        marks.sha256.insert(BuildHash::sha256_of(library), "m".into());
        assert!(marks.is_bad(&BuildHash::of_library(library), Some(library)));
        let other = b"\x7fELF another build";
        assert!(!marks.is_bad(&BuildHash::of_library(other), Some(other)));
    }

    #[test]
    fn a_mark_under_the_identity_refuses_without_the_bytes() {
        let mut marks = BadMarks::default();
        let hash = BuildHash::of_library(b"lib");
        marks.insert(hash, "m".into());
        assert!(marks.is_bad(&hash, None));
        assert!(marks.contains(&hash));
        assert_ne!(hash, BuildHash::sha256_of(b"lib"), "the identity is BLAKE3, not SHA-256");
    }
}
