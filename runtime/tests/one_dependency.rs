//! issue 20: a module and an interface crate that depend on `relive-sdk`
//! alone derive their wire traits with `#[relive_sdk::data]`, and a host
//! loads, calls and upgrades the result like any other module.

use one_dep_api::{Count, TallyMsg};
use relive_runtime::{ActorRef, Host};
use relive_test_support::fixtures;

type Tally = ActorRef<TallyMsg, Count>;

/// The `[dependencies]` table of a fixture's manifest, as its keys.
fn dependencies(fixture: &str) -> Vec<String> {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../test-modules")
        .join(fixture)
        .join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let table = text.split("[dependencies]").nth(1).expect("a [dependencies] table");
    table
        .lines()
        .take_while(|l| !l.starts_with('['))
        .filter_map(|l| l.split(['=', '.']).next())
        .map(str::trim)
        .filter(|k| !k.is_empty() && !k.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_module_with_only_the_sdk_as_dependency_loads_and_answers() {
    assert_eq!(dependencies("one_dep"), ["relive-sdk", "one-dep-api"]);
    assert_eq!(dependencies("one_dep_api"), ["relive-sdk"]);

    let host = Host::builder().workers(2).build().unwrap();
    host.code_server().upgrade("one_dep", fixtures().path("one_dep")).unwrap();
    let tally: Tally = host.spawn("one_dep", &()).unwrap();
    assert_eq!(tally.call(TallyMsg::Add { item: "apple".into(), n: 2 }).unwrap(), Count(2));
    assert_eq!(tally.call(TallyMsg::Add { item: "apple".into(), n: 3 }).unwrap(), Count(5));
    assert_eq!(tally.call(TallyMsg::Add { item: "pear".into(), n: 1 }).unwrap(), Count(1));
    assert_eq!(tally.call(TallyMsg::Get("apple".into())).unwrap(), Count(5));
    assert_eq!(tally.call(TallyMsg::Total).unwrap(), Count(6));
}

#[test]
fn a_one_dependency_module_keeps_its_state_across_a_reload_of_the_same_build() {
    let host = Host::builder().workers(2).build().unwrap();
    let code = host.code_server();
    code.upgrade("one_dep", fixtures().path("one_dep")).unwrap();
    let tally: Tally = host.spawn("one_dep", &()).unwrap();
    tally.call(TallyMsg::Add { item: "fig".into(), n: 4 }).unwrap();
    // A fresh copy of the same bytes is new code to the code server: the
    // state moves through the schema-equal path (export, then restore).
    let copy = fixtures().scratch();
    let again = copy.path().join("libone_dep.so");
    std::fs::copy(fixtures().path("one_dep"), &again).unwrap();
    let report = code.upgrade("one_dep", &again);
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(tally.call(TallyMsg::Get("fig".into())).unwrap(), Count(4));
    assert_eq!(tally.call(TallyMsg::Total).unwrap(), Count(4));
}
