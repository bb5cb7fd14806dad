//! `dep_caller` 1.0.0: depends on `dep_callee` `^1` (test fixture).

const REQUIREMENT: &str = "^1";
include!("caller.rs");
