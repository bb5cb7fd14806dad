//! The code `docs/guide.md` shows from its "gen_server behaviour" section
//! on, compiled: every `rust` block there is an excerpt of this crate (or of
//! another crate of the workspace), up to indentation and the `// …` lines
//! that stand for code left out. `tests/guide.rs` checks each block, so a
//! name the guide uses and the code lost fails `cargo test`.
//!
//! The guide's first pages are checked against what `relive new` writes
//! (`cli/tests/new.rs`), its "Adding a message in a release" against the
//! counter example (`examples/counter/host/tests/guide_snippets.rs`).
//!
//! Each file is one of the guide's topics. The modules here are compiled, not
//! exported as libraries; the tests of `runtime/` and `supervisor/` run the
//! same calls on real libraries.

// The guide's sections 9 and 10 show their code as written, layout included.
#[rustfmt::skip]
pub mod config_deliver;
#[rustfmt::skip]
pub mod config_host;
#[rustfmt::skip]
pub mod config_module;
#[rustfmt::skip]
pub mod functions;
pub mod gen_server;
pub mod host;
pub mod lifecycle;
pub mod ports;
pub mod sys;
