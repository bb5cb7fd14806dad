//! `dep_caller` 2.0.0: depends on `dep_callee` `^2`, so the two upgrade
//! together (test fixture).

const REQUIREMENT: &str = "^2";
include!("../../dep_caller_v1/src/caller.rs");
