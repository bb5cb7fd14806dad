//! `dep_callee` 2.0.0: the same interface, a new major version, which
//! `dep_caller` 1.x (`^1`) does not accept (test fixture).

const MAJOR: u32 = 2;
include!("../../dep_callee_v1/src/callee.rs");
