//! A module named `billing` offered as `counter` (test fixture).

counter_api::v1_counter_module!(name = "billing", logic = 1);

relive_sdk::export_module!(Counter);
