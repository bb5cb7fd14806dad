//! Counter v1: the first version of the `counter` module (test fixture).

counter_api::v1_counter_module!(name = "counter", logic = 1);

relive_sdk::export_module!(Counter);
