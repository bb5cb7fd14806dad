//! The guide's host code (`src/host.rs`) run on the counter example's real
//! libraries, built here: what the guide shows is not only compiled but
//! does what it says.

use counter_example_api::{Msg, Reply};
use guide_examples::host;
use relive::ActorRef;
use relive::build::ModuleCrate;
use std::path::{Path, PathBuf};

fn counter(version: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../counter").join(version);
    ModuleCrate::at(&dir).build().expect("build the counter").path
}

#[test]
fn upgrading_in_a_host_as_the_guide_does_it() {
    host::upgrade_in_a_host(&counter("module_v1"), &counter("module_v2"))
        .expect("the guide's upgrade");
}

#[test]
fn looking_inside_a_counter_with_sys_as_the_guide_does_it() {
    let host = relive::Host::new().unwrap();
    host.code_server().upgrade("counter", counter("module_v1")).unwrap();
    let c: ActorRef<Msg, Reply> = host.spawn("counter", &0u64).unwrap();
    c.call(Msg::Add(41)).unwrap();
    host::watch(&host);
    host::look_inside(&host, &c).expect("the guide's sys calls");
    // The guide's replace_state set the count to 0.
    assert_eq!(c.call(Msg::Get).unwrap().count, 0);
}

#[test]
fn the_guides_ledger_port_answers_a_request() {
    let host = host::host_with_a_ledger(std::sync::Arc::default()).expect("the guide's port");
    // A second registration of the same name is refused: the port is there.
    let again = host.port("ledger", |w: guide_examples::ports::LedgerWrite| async move {
        Ok::<_, host::DbError>(guide_examples::ports::LedgerReceipt { row: w.amount })
    });
    assert!(again.is_err(), "the guide's `ledger` port was registered");
}

#[test]
fn the_guides_stateless_function_answers_as_it_says() {
    guide_examples::functions::call_quote().expect("the guide's function call");
}
