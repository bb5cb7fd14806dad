//! Counter 3.0.0 whose `init` panics (test fixture).

counter_api::v1_counter_module!(
    name = "counter",
    logic = 3,
    init = |_start: u64| panic!("init exploded"),
);

relive_sdk::export_module!(Counter);
