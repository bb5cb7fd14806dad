//! Every host-side `unsafe` of relive lives in this module.
//!
//! - [`dylib`]: `dlopen` of a private copy and the symbol lookup;
//! - [`decl`]: reading a module's declaration through mirror types whose
//!   function pointers are `Option`s and whose statuses are integers, so a
//!   malformed declaration is an error, never undefined behaviour;
//! - [`calls`]: the calls into a version's function table, and the opaque
//!   state pointer they pass;
//! - [`host`]: the services table the host hands every version;
//! - [`snapshot`] and [`membarrier`] (issue 17): the function slot's RCU
//!   cell, read through a per-thread cached pointer validated by a
//!   generation and pinned without a read-modify-write, and the asymmetric
//!   fence that makes it sound (decision 0031);
//! - [`mapped`]: a read-only mapping of the loader's private copy, which is
//!   hashed and checked in place (issue 19);
//! - [`prefault`]: a large buffer's memory made present before an
//!   upgrade's pause writes it (issue 19);
//! - [`prefetch`]: a cache line asked for ahead of a pass's locked
//!   instructions (issue 19);
//! - [`unload`]: what could still run a library's code once nobody holds
//!   it (module threads, signal handlers, thread-local destructors).
//!
//! The invariant that makes all of it sound: a function pointer, a pointer
//! into a declaration or a state pointer is only reachable through a borrow of,
//! or an `Arc` to, the [`Version`](crate::Version) that loaded it, and the
//! library is closed only when the last `Arc<Version>` drops.

pub(crate) mod calls;
pub(crate) mod decl;
pub(crate) mod dylib;
pub(crate) mod host;
// issue 17: the function slot's read path (decision 0031)
pub(crate) mod mapped;
pub(crate) mod membarrier;
pub(crate) mod prefault;
pub(crate) mod prefetch;
pub(crate) mod snapshot;
pub(crate) mod unload;
