//! `tuner` 2.0.0: reads its configuration section (`Configured`) and
//! accepts a limit up to 50 (test fixture).

include!("../../tuner_v1/tuner.rs");

const MAJOR: u32 = 2;
const MAX_LIMIT: u32 = 50;

relive_sdk::export_module!(Tuner, configured);
