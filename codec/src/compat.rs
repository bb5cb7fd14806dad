//! Can one version read another's state?
//!
//! The rule (DESIGN.md, loader step 6): a new version may replace a running one
//! when the state schemas are equal (the state is restored as is), or when the
//! running version's state schema is among the schemas the new version's
//! `code_change` declares it can read. Equality of fingerprints is the whole
//! check; there is no structural "subtyping".

use crate::Fingerprint;

/// How a version with state schema `own` that can read `readable` would take
/// over state written with schema `from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateCompat {
    /// Same schema: the bytes are decoded as they are.
    Same,
    /// Different schema that `code_change` declares it reads.
    Migrates,
    /// Neither: the state cannot be carried over.
    Unreadable,
}

/// Decide how state written with schema `from` reaches a version whose own
/// state schema is `own` and whose `code_change` reads `readable`.
pub fn state_compat(own: Fingerprint, readable: &[Fingerprint], from: Fingerprint) -> StateCompat {
    if own == from {
        StateCompat::Same
    } else if readable.contains(&from) {
        StateCompat::Migrates
    } else {
        StateCompat::Unreadable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_cases() {
        let (a, b, c) =
            (Fingerprint::from_u64(1), Fingerprint::from_u64(2), Fingerprint::from_u64(3));
        assert_eq!(state_compat(a, &[b], a), StateCompat::Same);
        assert_eq!(state_compat(a, &[b], b), StateCompat::Migrates);
        assert_eq!(state_compat(a, &[b], c), StateCompat::Unreadable);
    }
}
