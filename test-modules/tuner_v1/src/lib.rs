//! `tuner` 1.0.0: reads its configuration section (`Configured`) and
//! accepts a limit up to 100 (test fixture).

include!("../../tuner_v1/tuner.rs");

const MAJOR: u32 = 1;
const MAX_LIMIT: u32 = 100;

relive_sdk::export_module!(Tuner, configured);
