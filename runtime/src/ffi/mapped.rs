//! A read-only view of the loader's private copy of a library, mapped
//! instead of read (issue 19: `load_ms`).
//!
//! When a load needs the private copy's bytes whole — to verify its
//! signature, or to check SHA-256 bad marks — it reads them through this
//! mapping of the copy itself, the bytes `dlopen` maps next: no heap buffer
//! to fault in and zero, no second copy of the bytes in user space. (The
//! build's hash is taken while the copy is made: decision 0038.)

use std::fs::File;
use std::os::fd::AsRawFd;

/// The whole of a file, mapped read-only (`MAP_PRIVATE | MAP_POPULATE`).
#[derive(Debug)]
pub(crate) struct Mapped {
    ptr: *const u8,
    len: usize,
}

// SAFETY: the mapping is read-only and owned by this value alone; reading it
// from several threads is reading immutable memory.
unsafe impl Send for Mapped {}
// SAFETY: as for `Send`: `&Mapped` only gives out `&[u8]`.
unsafe impl Sync for Mapped {}

impl Mapped {
    /// Map the first `len` bytes of `file`, read-only, populated at once
    /// (one call faults every page in, instead of one fault per 64 KiB).
    ///
    /// `file` must be the loader's private copy: created exclusively by this
    /// process, mode 0600, in a 0700 directory, and not written while the
    /// mapping lives. Nobody else can then change or truncate it, so the
    /// mapped bytes stay what was hashed and no page can vanish under a
    /// read (a truncated mapping would raise SIGBUS).
    ///
    /// # Errors
    /// What `mmap` said.
    pub(crate) fn private_copy(file: &File, len: usize) -> std::io::Result<Self> {
        if len == 0 {
            // `mmap` refuses an empty mapping; an empty file has no bytes.
            return Ok(Mapped { ptr: std::ptr::NonNull::<u8>::dangling().as_ptr(), len: 0 });
        }
        // SAFETY: a fresh mapping (address chosen by the kernel) of a
        // descriptor we own, read-only and private: it aliases no Rust
        // object. The file cannot change while mapped (see above).
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_POPULATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Mapped { ptr: ptr.cast_const().cast(), len })
    }
}

impl std::ops::Deref for Mapped {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr` is a live read-only mapping of `len` bytes (or a
        // dangling, aligned pointer with `len` 0), unmapped only in `drop`,
        // and the file behind it is never written while it lives.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        if self.len != 0 {
            // SAFETY: the mapping made in `private_copy`, unmapped once; no
            // borrow of it outlives `self`.
            unsafe { libc::munmap(self.ptr.cast_mut().cast(), self.len) };
        }
    }
}
