//! `dep_callee` 1.0.0 (test fixture for module dependencies).

const MAJOR: u32 = 1;
include!("callee.rs");
