//! Live upgrade of every actor of a module: the protocols, one file each
//! (`atomic.rs`, `gradual.rs`, `rollback.rs`, `purge.rs`; what they share is
//! in `migrate.rs`), and their options, reports and errors.
//!
//! Suspending an actor means taking its body lock, which only happens
//! between two messages (a worker holds it for a whole turn, see
//! `actor/mod.rs`). Mail that arrives meanwhile waits in the mailbox, in
//! order, and is handled by whichever version the actor runs when it is
//! released: nothing is lost or reordered, and new code never sees old
//! state.
//!
//! # Atomic (the default; OTP's suspend / change_code / resume)
//! 1. Validate every new version completely (the loader chain, `not_purged`);
//!    a refusal changes nothing.
//! 2. Suspend every actor of the modules, in id order, each at its next
//!    message boundary. One that does not reach a boundary before the
//!    suspend timeout aborts the upgrade: step 6.
//! 3. Build each actor's new state with the new version's `code_change`,
//!    keeping the old instance untouched.
//! 4. If any migration failed or panicked: step 6.
//! 5. Commit every module's slots in one step, swap every actor's instance,
//!    resume them all. The pre-upgrade snapshots are kept for `rollback`.
//! 6. Abort: drop the new instances, resume every actor on its old instance
//!    — exactly the old state and version — and unload the new versions.
//!
//! # Gradual (canary)
//! The new version becomes current; a canary share of the actors migrates,
//! one at a time (each suspended only for its own migration); both versions
//! serve. `promote` migrates the rest the same way; `abort` sends the
//! canaries back (through `downgrade`, or from their upgrade snapshot), makes
//! the old version current again and unloads the new one.
//!
//! # Rollback
//! `old` becomes current again; each actor on the newer version migrates
//! back through that version's `downgrade` (OTP's `{down, Vsn}`), or, when it
//! cannot write the older state, through the older version's `code_change`
//! (which decodes a state of equal schema as it is); only when neither works
//! does it restart from the snapshot taken when it was upgraded — the report
//! counts those, since messages handled after the upgrade are lost.
//!
//! # Purge
//! Actors still on `old` are stopped (`killed`, as OTP's `purge` kills
//! processes running old code; supervisors restart them on current), then
//! `old` is dropped.

mod atomic;
mod error;
mod gradual;
mod migrate;
mod options;
mod purge;
mod report;
mod rollback;
mod state;

pub use error::UpgradeError;
pub use options::{Canary, UpgradeMode, UpgradeOptions};
pub use report::{
    ActorFailure, ActorFailures, MigrateError, PurgeReport, RollbackReport, UpgradeReport,
};
pub(crate) use state::UpgradeState;
