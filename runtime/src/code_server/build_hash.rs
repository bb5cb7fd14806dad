//! `BuildHash`: the identity of a build — for a library, the BLAKE3 hash of
//! its bytes — and [`LeafHashes`], which computes that same hash from the
//! library's leaves, hashed in any order and on any thread (issue 19:
//! `load_ms`; docs/decisions/0038-hash-while-copying.md).
//!
//! BLAKE3 is a tree: the input's 1 KiB chunks are its leaves, and every
//! subtree whose length is a power of two chunks, starting at a multiple of
//! that length, hashes on its own to a *chaining value*. [`LEAF`] is such a
//! subtree length, so a library cut into pieces of `LEAF` bytes (the last
//! one shorter) can be hashed a piece at a time, by whoever has it, and the
//! pieces' chaining values merged in the tree's own order give exactly
//! `blake3::hash` of the whole (`blake3::hazmat`).

use blake3::hazmat::{
    ChainingValue, HasherExt, Mode, left_subtree_len, merge_subtrees_non_root, merge_subtrees_root,
};
use std::fmt;

/// The identity of a build: for a library, the BLAKE3 hash of all its bytes
/// ([`of_library`](Self::of_library)); for a module linked into the host,
/// the SHA-256 of its declaration's identity (name, version, build id,
/// schemas, code address).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BuildHash(pub [u8; 32]);

impl BuildHash {
    /// The identity of a library build: the BLAKE3 hash of all its bytes
    /// (issue 19; SHA-256 before, which a state directory's older marks
    /// still use: docs/decisions/0032-load-path.md).
    ///
    /// ```
    /// use relive_runtime::code_server::BuildHash;
    /// let hash = BuildHash::of_library(b"\x7fELF...");
    /// assert_eq!(hash.to_string().len(), 64);
    /// assert_eq!(hash.short(), hash.to_string()[..16]);
    /// ```
    pub fn of_library(bytes: &[u8]) -> Self {
        BuildHash(*blake3::hash(bytes).as_bytes())
    }

    /// The SHA-256 of `bytes`: a library's identity before issue 19, what
    /// the bad-build marks of a state file of format 1 are under.
    pub fn sha256_of(bytes: &[u8]) -> Self {
        use sha2::Digest;
        BuildHash(sha2::Sha256::digest(bytes).into())
    }

    /// The first 16 hex digits, as file names and reports show it.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..8])
    }
}

impl fmt::Display for BuildHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for BuildHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BuildHash({})", self.short())
    }
}

/// The length of a piece [`LeafHashes`] takes: 1 MiB, a power of two
/// chunks (a BLAKE3 subtree on its own). Large enough that a library of a
/// few MiB is a handful of pieces, small enough that the last one to be
/// hashed after the others (the tail of a pipeline) is short.
pub(crate) const LEAF: u64 = 1 << 20;

/// The chaining values of a library's [`LEAF`]-byte pieces, gathered as
/// they are hashed, then merged into the library's [`BuildHash`]:
/// `LeafHashes::new(len)`, a [`start`](Self::start)ed and
/// [`record`](Self::record)ed [`Piece`] for each piece (in any order, on any
/// thread), [`finish`](Self::finish).
#[derive(Debug)]
pub(crate) struct LeafHashes {
    len: u64,
    /// One per piece, in order; `None` until the piece is hashed.
    leaves: Vec<Option<ChainingValue>>,
}

impl LeafHashes {
    /// For a library of `len` bytes: `len.div_ceil(LEAF)` pieces (one for
    /// an empty library).
    pub(crate) fn new(len: u64) -> Self {
        let pieces = usize::try_from(len.div_ceil(LEAF).max(1)).unwrap_or(usize::MAX);
        LeafHashes { len, leaves: vec![None; pieces] }
    }

    /// The range of piece `index`, as byte offsets into the library.
    pub(crate) fn range(&self, index: usize) -> std::ops::Range<u64> {
        let start = index as u64 * LEAF;
        start..(start + LEAF).min(self.len)
    }

    /// How many pieces the library has.
    pub(crate) fn pieces(&self) -> usize {
        self.leaves.len()
    }

    /// A hasher for piece `index`, to be given exactly its bytes
    /// ([`range`](Self::range)`(index)` of the library, in one or more
    /// [`update`](Piece::update)s) and then [recorded](Self::record): fewer
    /// or more bytes hash to another value, which [`finish`](Self::finish)
    /// then returns as the library's.
    pub(crate) fn start(&self, index: usize) -> Piece {
        let mut hasher = blake3::Hasher::new();
        hasher.set_input_offset(self.range(index).start);
        Piece { index, hasher, whole: self.leaves.len() == 1 }
    }

    /// Record a piece once all its bytes went into it.
    pub(crate) fn record(&mut self, piece: Piece) {
        let cv = if piece.whole {
            // One piece is the whole library: no tree, BLAKE3's root is the
            // chunks' own output.
            *piece.hasher.finalize().as_bytes()
        } else {
            piece.hasher.finalize_non_root()
        };
        if let Some(slot) = self.leaves.get_mut(piece.index) {
            *slot = Some(cv);
        }
    }

    /// Take the pieces `other` (for the same library) recorded.
    pub(crate) fn absorb(&mut self, other: LeafHashes) {
        for (mine, theirs) in self.leaves.iter_mut().zip(other.leaves) {
            if mine.is_none() {
                *mine = theirs;
            }
        }
    }

    /// The library's hash from its pieces' chaining values, or `None` if a
    /// piece was never recorded.
    pub(crate) fn finish(&self) -> Option<BuildHash> {
        let leaves: Option<Vec<ChainingValue>> = self.leaves.iter().copied().collect();
        let leaves = leaves?;
        if let [whole] = leaves[..] {
            return Some(BuildHash(whole));
        }
        let left = left_subtree_len(self.len);
        let (l, r) = (merge(&leaves, 0, left), merge(&leaves, left, self.len - left));
        Some(BuildHash(*merge_subtrees_root(&l, &r, Mode::Hash).as_bytes()))
    }
}

/// One piece being hashed ([`LeafHashes::start`]).
#[derive(Debug)]
pub(crate) struct Piece {
    index: usize,
    hasher: blake3::Hasher,
    /// The library has this piece only.
    whole: bool,
}

impl Piece {
    /// The piece's next bytes.
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
    }
}

/// The chaining value of the subtree of `len` bytes at `start` (a multiple
/// of [`LEAF`]), from the pieces' `leaves`. A subtree of more than one piece
/// splits where BLAKE3 splits it, at a power of two chunks that is itself a
/// multiple of `LEAF`, so the recursion ends on whole pieces.
fn merge(leaves: &[ChainingValue], start: u64, len: u64) -> ChainingValue {
    if len <= LEAF {
        return leaves[(start / LEAF) as usize];
    }
    let left = left_subtree_len(len);
    let l = merge(leaves, start, left);
    let r = merge(leaves, start + left, len - left);
    merge_subtrees_non_root(&l, &r, Mode::Hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(len: usize) -> Vec<u8> {
        // Not all zeros, not periodic at any power of two: a wrongly placed
        // piece changes the hash.
        (0..len).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()
    }

    fn by_pieces(data: &[u8], order: impl Fn(usize) -> Vec<usize>) -> BuildHash {
        let mut leaves = LeafHashes::new(data.len() as u64);
        for i in order(leaves.pieces()) {
            let r = leaves.range(i);
            let mut piece = leaves.start(i);
            // In two updates, as a reader of short buffers gives them.
            let (a, b) =
                data[r.start as usize..r.end as usize].split_at((r.end - r.start) as usize / 3);
            piece.update(a);
            piece.update(b);
            leaves.record(piece);
        }
        leaves.finish().expect("every piece recorded")
    }

    #[test]
    fn pieces_in_any_order_hash_to_the_whole_librarys_hash() {
        let l = LEAF as usize;
        for len in [0, 1, 1024, l - 1, l, l + 1, 2 * l, 2 * l + 1, 3 * l + 5, 4 * l, 5 * l + 4097] {
            let data = bytes(len);
            let want = BuildHash::of_library(&data);
            assert_eq!(by_pieces(&data, |n| (0..n).collect()), want, "in order, {len} bytes");
            assert_eq!(by_pieces(&data, |n| (0..n).rev().collect()), want, "reversed, {len}");
        }
    }

    #[test]
    fn a_missing_or_misplaced_piece_is_not_the_librarys_hash() {
        let data = bytes(3 * LEAF as usize + 10);
        let mut leaves = LeafHashes::new(data.len() as u64);
        let mut piece = leaves.start(0);
        piece.update(&data[..LEAF as usize]);
        leaves.record(piece);
        assert_eq!(leaves.finish(), None, "pieces 1 to 3 were never hashed");
        // Pieces 1 to 3 from another gatherer complete it.
        let mut others = LeafHashes::new(data.len() as u64);
        for i in 1..others.pieces() {
            let r = others.range(i);
            let mut piece = others.start(i);
            piece.update(&data[r.start as usize..r.end as usize]);
            others.record(piece);
        }
        leaves.absorb(others);
        assert_eq!(leaves.finish(), Some(BuildHash::of_library(&data)));
        let swapped = by_pieces(&data, |n| (0..n).collect());
        let mut wrong = LeafHashes::new(data.len() as u64);
        for i in 0..wrong.pieces() {
            // Piece 1's bytes hashed as piece 2 and the other way round.
            let from = match i {
                1 => 2,
                2 => 1,
                i => i,
            };
            let r = wrong.range(from);
            let mut piece = wrong.start(i);
            piece.update(&data[r.start as usize..r.end as usize]);
            wrong.record(piece);
        }
        assert_ne!(wrong.finish(), Some(swapped));
    }
}
