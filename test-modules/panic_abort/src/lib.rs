//! Counter 1.5.0, built by the tests with `-C panic=abort`: refused, since a
//! panic could not be caught (test fixture).

counter_api::v1_counter_module!(name = "counter", logic = 15);

relive_sdk::export_module!(Counter);
