//! Step 1's private copy of a library, hashed while it is made (issue 19:
//! `load_ms`; docs/decisions/0038-hash-while-copying.md).
//!
//! The kernel copies the library into `<module>-<n>.part` (created
//! exclusively, 0600, in the loader's 0700 directory) one 1 MiB piece at
//! a time (`copy_file_range`, or reads and writes where a file system
//! refuses it), and a second thread reads each piece back *from the copy*
//! as soon as it is there and hashes it ([`LeafHashes`]). So the hash is of
//! the very file `dlopen` maps next, as before, and the two costs overlap
//! instead of adding up: the copy's `memcpy` on one core, BLAKE3 on the
//! other.
//!
//! ## The hand-off
//! One `std::sync::mpsc` channel of piece indices, copier to hashers. The
//! copier sends a piece's index only after the `copy_file_range` calls that
//! wrote all its bytes returned; the channel's send-receive pair orders
//! those writes before the hashers' reads. The copier writes nothing a
//! piece it sent covers ever again, and a hasher reads only pieces it
//! received, so no byte is read while it may still change. The copier
//! drops its sender when it is done, then becomes a hasher too: it and
//! the `relive-hash` thread take the pieces still queued (the receiver
//! behind a mutex, held only while taking one), each into its own
//! `LeafHashes`, merged at the end. So the last pieces are hashed on both
//! cores, and a hasher thread that never got a core — or could not be
//! started — only means the copier hashes everything itself. Each index is
//! received once, so each piece is hashed once. The thread is scoped,
//! joined before this module returns; if it fails (a read error), its
//! error is returned.

#[cfg(test)]
use super::build_hash::LEAF;
use super::build_hash::{BuildHash, LeafHashes};
use parking_lot::Mutex;
use std::fs::{self, File};
use std::io::{self, ErrorKind};
use std::ops::Range;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

/// A private copy just written, under its temporary name.
#[derive(Debug)]
pub(crate) struct Written {
    pub(crate) path: PathBuf,
    /// The copy, open for reading (and writing, which nothing does again).
    pub(crate) file: File,
    /// The bytes copied.
    pub(crate) len: u64,
}

/// The buffer each piece is read back through: small enough to stay in the
/// hashing core's cache.
const READ_BUF: usize = 128 * 1024;

/// Copy the `size` bytes of `from` (from its start) into a new private
/// file of `dir` named by `part` (called again with the next number while
/// the name is taken by an earlier run's leftover), hashing them as they
/// land. On failure the new file is removed.
///
/// # Errors
/// Creating, writing or reading back the copy failed, or `from` holds fewer
/// than `size` bytes (it shrank since it was checked):
/// [`ErrorKind::UnexpectedEof`].
pub(crate) fn make(
    dir: &Path,
    mut part: impl FnMut() -> String,
    from: &File,
    size: u64,
) -> io::Result<(Written, BuildHash)> {
    loop {
        let path = dir.join(part());
        let mut create = fs::OpenOptions::new();
        // Read too: the copy is read back through this descriptor.
        create.read(true).write(true).create_new(true).mode(0o600);
        match create.open(&path) {
            // No fsync: the copy is only read back, through the page cache,
            // by this process; it never needs to survive a crash.
            Ok(file) => {
                return match copy_hashing(from, &file, size) {
                    Ok(hash) => Ok((Written { path, file, len: size }, hash)),
                    Err(e) => {
                        let _ = fs::remove_file(&path);
                        Err(e)
                    }
                };
            }
            // A file left behind by an earlier run of this directory: skip it.
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Copy `size` bytes of `from` into `to`, both from offset 0, and the
/// BLAKE3 hash of what `to` then holds, the two at once on two threads (see
/// the module's docs).
fn copy_hashing(from: &File, to: &File, size: u64) -> io::Result<BuildHash> {
    copy_hashing_on(from, to, size, true)
}

/// [`copy_hashing`], with the `relive-hash` thread or (`second_thread`
/// false, as when a spawn is refused) without it.
fn copy_hashing_on(
    from: &File,
    to: &File,
    size: u64,
    second_thread: bool,
) -> io::Result<BuildHash> {
    let ranges = LeafHashes::new(size);
    let (tx, rx) = mpsc::channel::<usize>();
    // Shared: the copier, once done, hashes what is still queued beside the
    // hasher (or all of it, if the hasher never got a core).
    let rx = Mutex::new(rx);
    let hash_queued = |leaves: &mut LeafHashes| -> io::Result<()> {
        let mut buf = vec![0; READ_BUF];
        // The guard goes at the end of the statement: never held while
        // hashing, only while waiting for the next index.
        while let Ok(index) = rx.lock().recv() {
            hash_piece(leaves, to, index, &mut buf)?;
        }
        Ok(())
    };
    std::thread::scope(|s| {
        let hasher = second_thread.then(|| {
            std::thread::Builder::new().name("relive-hash".into()).spawn_scoped(s, || {
                // One of relive's threads, which never runs a library's
                // code: the unloader need not inspect it (a hasher busy on
                // a CPU would otherwise hold back every unload it meets).
                let _ours = crate::ffi::unload::OurThread::enter();
                let mut leaves = LeafHashes::new(size);
                hash_queued(&mut leaves).map(|()| leaves)
            })
        });
        let mut copied = Ok(());
        for index in 0..ranges.pieces() {
            copied = copy_range(from, to, ranges.range(index));
            // Cannot fail: the receiver lives until the scope ends.
            if copied.is_err() || tx.send(index).is_err() {
                break;
            }
        }
        drop(tx);
        let mut leaves = LeafHashes::new(size);
        let mine = if copied.is_ok() { hash_queued(&mut leaves) } else { Ok(()) };
        // Without a thread (spawn refused) the copier hashed every piece.
        let theirs = match hasher {
            Some(Ok(h)) => {
                Some(h.join().map_err(|_| io::Error::other("the hashing thread panicked"))?)
            }
            Some(Err(_)) | None => None,
        };
        copied?;
        mine?;
        if let Some(theirs) = theirs {
            leaves.absorb(theirs?);
        }
        leaves.finish().ok_or_else(|| io::Error::other("a piece of the copy was not hashed"))
    })
}

/// Read piece `index` back from `copy` through `buf` and record its hash.
fn hash_piece(
    leaves: &mut LeafHashes,
    copy: &File,
    index: usize,
    buf: &mut [u8],
) -> io::Result<()> {
    let mut piece = leaves.start(index);
    let short = || io::Error::new(ErrorKind::UnexpectedEof, "the copy is shorter than written");
    read_through(copy, leaves.range(index), buf, short, |bytes, _| {
        piece.update(bytes);
        Ok(())
    })?;
    leaves.record(piece);
    Ok(())
}

/// Read the bytes `range` of `file` through `buf`, a buffer at a time
/// (`read_exact_at`: interrupted reads are retried), handing each, with
/// its offset, to `each`; a file that ends before `range` does is the
/// error `ended()`.
fn read_through(
    file: &File,
    range: Range<u64>,
    buf: &mut [u8],
    ended: impl Fn() -> io::Error,
    mut each: impl FnMut(&[u8], u64) -> io::Result<()>,
) -> io::Result<()> {
    let mut at = range.start;
    while at < range.end {
        let n = usize::try_from(range.end - at).unwrap_or(usize::MAX).min(buf.len());
        file.read_exact_at(&mut buf[..n], at)
            .map_err(|e| if e.kind() == ErrorKind::UnexpectedEof { ended() } else { e })?;
        each(&buf[..n], at)?;
        at += n as u64;
    }
    Ok(())
}

/// Copy the bytes `range` of `from` to the same offsets of `to`: by the
/// kernel (`copy_file_range`), or by reads and writes where the file
/// systems refuse that (as `std::io::copy` falls back).
fn copy_range(from: &File, to: &File, range: Range<u64>) -> io::Result<()> {
    let (mut off_in, mut off_out) = (range.start, range.start);
    while off_in < range.end {
        let left = usize::try_from(range.end - off_in).unwrap_or(usize::MAX);
        match rustix::fs::copy_file_range(from, Some(&mut off_in), to, Some(&mut off_out), left) {
            Ok(0) => return Err(shrank()),
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => {}
            Err(
                rustix::io::Errno::NOSYS
                | rustix::io::Errno::XDEV
                | rustix::io::Errno::OPNOTSUPP
                | rustix::io::Errno::INVAL
                | rustix::io::Errno::PERM
                | rustix::io::Errno::BADF,
            ) => return copy_by_reads(from, to, off_in..range.end),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// [`copy_range`] through a buffer.
fn copy_by_reads(from: &File, to: &File, range: Range<u64>) -> io::Result<()> {
    read_through(from, range, &mut vec![0; READ_BUF], shrank, |bytes, at| {
        to.write_all_at(bytes, at)
    })
}

fn shrank() -> io::Error {
    io::Error::new(
        ErrorKind::UnexpectedEof,
        "the library ended before the size it had when checked: it shrank while being copied",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn library(len: usize) -> (tempfile::TempDir, File, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let bytes: Vec<u8> = (0..len).map(|i| (i.wrapping_mul(40_503) >> 7) as u8).collect();
        let path = dir.path().join("lib.so");
        fs::write(&path, &bytes).unwrap();
        (dir, File::open(&path).unwrap(), bytes)
    }

    #[test]
    fn the_copy_holds_the_library_and_its_hash_is_the_librarys() {
        let l = LEAF as usize;
        for len in [0, 7, l, 3 * l + 12_345, 5 * l + 1] {
            let (dir, from, bytes) = library(len);
            let mut n = 0;
            let (written, hash) = make(
                dir.path(),
                || {
                    n += 1;
                    format!("m-{n}.part")
                },
                &from,
                len as u64,
            )
            .unwrap();
            assert_eq!(fs::read(&written.path).unwrap(), bytes, "{len} bytes");
            assert_eq!(written.len, len as u64);
            assert_eq!(hash, BuildHash::of_library(&bytes), "{len} bytes");
        }
    }

    #[test]
    fn without_a_second_thread_the_copier_hashes_every_piece() {
        let len = 3 * LEAF as usize + 777;
        let (dir, from, bytes) = library(len);
        let to = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(dir.path().join("c"))
            .unwrap();
        let hash = copy_hashing_on(&from, &to, len as u64, false).unwrap();
        assert_eq!(hash, BuildHash::of_library(&bytes));
        assert_eq!(fs::read(dir.path().join("c")).unwrap(), bytes);
    }

    #[test]
    fn a_name_left_behind_is_skipped() {
        let (dir, from, bytes) = library(1000);
        fs::write(dir.path().join("m-1.part"), b"an earlier run's").unwrap();
        let mut n = 0;
        let next = || {
            n += 1;
            format!("m-{n}.part")
        };
        let (written, _) = make(dir.path(), next, &from, 1000).unwrap();
        assert_eq!(written.path, dir.path().join("m-2.part"));
        assert_eq!(fs::read(dir.path().join("m-1.part")).unwrap(), b"an earlier run's");
        assert_eq!(fs::read(&written.path).unwrap(), bytes);
    }

    #[test]
    fn a_library_that_shrank_is_refused_and_its_copy_removed() {
        let l = LEAF as usize;
        for (len, claimed) in [(10, 11), (2 * l + 5, 3 * l)] {
            let (dir, from, _) = library(len);
            let e = make(dir.path(), || "m.part".to_owned(), &from, claimed as u64).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::UnexpectedEof, "{e}");
            assert!(e.to_string().contains("shrank"), "{e}");
            assert!(!dir.path().join("m.part").exists(), "the copy stays after a refusal");
        }
    }

    #[test]
    fn copying_by_reads_gives_the_same_bytes() {
        let (dir, from, bytes) = library(300_001);
        let to = File::create_new(dir.path().join("copy")).unwrap();
        copy_by_reads(&from, &to, 0..bytes.len() as u64).unwrap();
        assert_eq!(fs::read(dir.path().join("copy")).unwrap(), bytes);
    }
}
