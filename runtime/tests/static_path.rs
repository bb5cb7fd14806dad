//! A module linked into the host runs through the same checks and calls as a
//! library, and its state can migrate to a dylib version and back.

use counter_api::{CounterMsg, CounterReply};
use postcard_schema::Schema;
use relive_runtime::code_server::LoadError;
use relive_runtime::{Instance, ModuleCallError};
use relive_sdk::{Context, Module, ModuleError};
use relive_test_support::fixtures;
use serde::{Deserialize, Serialize};

/// The same shape of state as counter v1, linked into this test.
#[derive(Debug, Serialize, Deserialize, Schema)]
pub struct Counter {
    count: u64,
}

impl Module for Counter {
    const NAME: &'static str = "counter";
    type Args = u64;
    type Msg = CounterMsg;
    type Reply = CounterReply;

    fn init(start: u64, _: &mut Context<'_>) -> Result<Self, ModuleError> {
        if start == u64::MAX {
            return Err(ModuleError::new("start too large"));
        }
        Ok(Counter { count: start })
    }

    fn handle(&mut self, msg: CounterMsg, _: &mut Context<'_>) -> CounterReply {
        counter_api::v1_handle(&mut self.count, msg, 1000)
    }
}

fn call(inst: &mut Instance, msg: CounterMsg) -> Result<CounterReply, ModuleCallError> {
    inst.call::<CounterMsg, CounterReply>(&msg)
}

#[test]
fn static_module_runs_through_the_same_checks() {
    let host_code = relive_runtime::Host::new().unwrap();
    let code = host_code.code_server();
    let decl = relive_sdk::declaration!(Counter, version = "0.9.0");
    // Same name check as a library, with the static source named.
    match code.load("billing", decl) {
        Err(e @ LoadError::NameMismatch { .. }) => {
            assert_eq!(e.file(), Some("static:billing"));
        }
        other => panic!("{other:?}"),
    }
    code.load("counter", decl).unwrap();
    let v = code.current("counter").unwrap();
    assert_eq!(code.module_status("counter"), Some(relive_runtime::ModuleStatus::Static));

    let mut inst = Instance::start_with(&v, &1u64).unwrap();
    assert_eq!(
        call(&mut inst, CounterMsg::Add(1)).unwrap(),
        CounterReply { logic: 1000, count: 2 }
    );
    // init errors and handler panics are caught exactly as for a library.
    assert!(matches!(
        Instance::start_with(&v, &u64::MAX).unwrap_err(),
        ModuleCallError::Failed { function: "init", message, .. } if message == "start too large"
    ));
    assert!(matches!(
        call(&mut inst, CounterMsg::Panic("static boom".into())).unwrap_err(),
        ModuleCallError::Panicked { message, .. } if message == "static boom"
    ));
}

#[test]
fn static_state_migrates_to_a_dylib_and_back() {
    let host_code = relive_runtime::Host::new().unwrap();
    let code = host_code.code_server();
    code.load("counter", relive_sdk::declaration!(Counter, version = "0.9.0")).unwrap();
    let stat = code.current("counter").unwrap();
    let mut inst = Instance::start_with(&stat, &41u64).unwrap();
    call(&mut inst, CounterMsg::Add(1)).unwrap();

    code.load("counter", fixtures().path("counter_v2")).unwrap();
    let v2 = code.current("counter").unwrap();
    let mut inst = inst.code_change(&v2, &[]).unwrap();
    assert_eq!(call(&mut inst, CounterMsg::Get).unwrap(), CounterReply { logic: 2, count: 42 });

    code.rollback("counter").unwrap();
    let mut inst = inst.downgrade(&stat).unwrap();
    assert_eq!(call(&mut inst, CounterMsg::Get).unwrap(), CounterReply { logic: 1000, count: 42 });
}
