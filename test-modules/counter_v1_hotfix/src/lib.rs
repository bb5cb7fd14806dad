//! Another build of counter 1.0.0 with other logic: loading it over 1.0.0
//! is refused unless forced (test fixture).

counter_api::v1_counter_module!(name = "counter", logic = 101);

relive_sdk::export_module!(Counter);
