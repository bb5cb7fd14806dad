//! issue 15: module dependencies on real libraries. `dep_caller` 1.x needs
//! `dep_callee` `^1`, 2.x needs `^2`: the two change together, so only an
//! `upgrade_all` of both (callee first) may move them.

use relive_runtime::code_server::{EventKind, Part};
use relive_runtime::host::{SpawnOptions, UpgradeError, UpgradeOptions};
use relive_runtime::{ActorRef, DependencyProblem, Host, LoadError, Source};
use relive_sdk::{Context, Dependency, Module, ModuleError, dep};
use relive_test_support::fixtures;
use std::time::Duration;

/// `dep_callee`'s message type (a copy: a fingerprint covers names and
/// shapes, not the crate).
#[derive(Debug, serde::Serialize, serde::Deserialize, postcard_schema::Schema)]
pub enum CalleeMsg {
    /// Answer `n` plus 1000 times the callee's major version.
    Ping(u32),
}

type Callee = ActorRef<CalleeMsg, u32>;
type Caller = ActorRef<u32, bool>;

/// A host with both 1.0.0s loaded and one actor of each (the callee
/// registered as `dep_callee`, where the caller sends).
fn host_with_v1() -> (Host, Callee, Caller) {
    let host = Host::builder().workers(2).build().unwrap();
    let code = host.code_server();
    code.upgrade("dep_callee", fixtures().path("dep_callee_v1")).unwrap();
    code.upgrade("dep_caller", fixtures().path("dep_caller_v1")).unwrap();
    let callee: Callee =
        host.spawn_with("dep_callee", &(), SpawnOptions::new().name("dep_callee")).unwrap();
    let caller: Caller = host.spawn("dep_caller", &()).unwrap();
    (host, callee, caller)
}

fn version(host: &Host, module: &str) -> String {
    host.code_server().current(module).unwrap().version().to_string()
}

#[test]
fn a_module_whose_dependency_is_not_loaded_is_refused_naming_it() {
    let host = Host::new().unwrap();
    let e = host.code_server().load("dep_caller", fixtures().path("dep_caller_v1")).unwrap_err();
    let LoadError::Dependency { module, dependency, problem, .. } = &e else {
        panic!("not a dependency refusal: {e:?}")
    };
    assert_eq!((module.as_str(), dependency.as_str()), ("dep_caller", "dep_callee"));
    assert_eq!(**problem, DependencyProblem::NotLoaded("dep_callee".into()));
    assert!(e.to_string().contains("depends on `dep_callee`"), "{e}");
    assert!(std::error::Error::source(&e).is_some(), "the problem is the source");
    assert!(host.code_server().current("dep_caller").is_none());
}

#[test]
fn upgrading_only_the_callee_is_refused_naming_the_dependant_it_would_break() {
    let (host, callee, caller) = host_with_v1();
    let e = host.code_server().upgrade("dep_callee", fixtures().path("dep_callee_v2")).unwrap_err();
    let UpgradeError::Refused(LoadError::BreaksDependant { dependant, problem, .. }) = &e else {
        panic!("not a dependant refusal: {e:?}")
    };
    assert_eq!(dependant, "dep_caller");
    assert!(
        matches!(&**problem, DependencyProblem::Version { requirement, .. } if requirement == "^1")
    );
    // Nothing changed: both 1.0.0s serve.
    assert_eq!(version(&host, "dep_callee"), "1.0.0");
    assert_eq!(callee.call(CalleeMsg::Ping(1)).unwrap(), 1001);
    assert!(caller.call(7).unwrap());
}

#[test]
fn upgrading_only_the_caller_is_refused_as_it_needs_the_newer_callee() {
    let (host, _callee, caller) = host_with_v1();
    let e = host.code_server().upgrade("dep_caller", fixtures().path("dep_caller_v2")).unwrap_err();
    let UpgradeError::Refused(LoadError::Dependency { dependency, problem, .. }) = &e else {
        panic!("not a dependency refusal: {e:?}")
    };
    assert_eq!(dependency, "dep_callee");
    assert!(
        matches!(&**problem, DependencyProblem::Version { requirement, found, .. }
            if requirement == "^2" && found.to_string() == "1.0.0"),
        "{problem:?}"
    );
    assert_eq!(version(&host, "dep_caller"), "1.0.0");
    assert!(caller.call(7).unwrap());
}

#[test]
fn upgrade_all_moves_both_in_one_unit_callee_first() {
    let (host, callee, caller) = host_with_v1();
    let mut events = host.events();
    // Listed caller first: the unit is ordered by dependency, not by the list.
    let unit: Vec<(String, Source)> = vec![
        ("dep_caller".into(), fixtures().path("dep_caller_v2").into()),
        ("dep_callee".into(), fixtures().path("dep_callee_v2").into()),
    ];
    let report = host.code_server().upgrade_all(unit, UpgradeOptions::default()).unwrap();
    let order: Vec<&str> = report.modules.iter().map(|l| l.module.as_str()).collect();
    assert_eq!(order, ["dep_callee", "dep_caller"]);
    assert_eq!(report.migrated, 2);
    assert_eq!(
        (version(&host, "dep_callee"), version(&host, "dep_caller")),
        ("2.0.0".into(), "2.0.0".into())
    );
    assert_eq!(callee.call(CalleeMsg::Ping(1)).unwrap(), 2001);
    assert!(caller.call(7).unwrap());
    // The event stream shows the same order.
    let mut upgraded = Vec::new();
    while let Some(Ok(e)) = events.recv_timeout(Duration::from_millis(200)) {
        if let EventKind::Upgraded { module, .. } = e.kind {
            upgraded.push(module);
        }
    }
    assert_eq!(upgraded, ["dep_callee", "dep_caller"]);
}

#[test]
fn a_failed_unit_changes_nothing() {
    let (host, callee, _caller) = host_with_v1();
    // The caller's 2.0 with a callee build that does not exist: refused as
    // one, the callee's 2.0 (valid on its own terms) is not kept.
    let unit: Vec<(String, Source)> = vec![
        ("dep_callee".into(), fixtures().path("dep_callee_v2").into()),
        ("dep_caller".into(), fixtures().path("dep_caller_v2").with_extension("missing").into()),
    ];
    let e = host.code_server().upgrade_all(unit, UpgradeOptions::default()).unwrap_err();
    assert!(matches!(e, UpgradeError::Refused(LoadError::NotFound { .. })), "{e:?}");
    assert_eq!(
        (version(&host, "dep_callee"), version(&host, "dep_caller")),
        ("1.0.0".into(), "1.0.0".into())
    );
    assert_eq!(callee.call(CalleeMsg::Ping(1)).unwrap(), 1001);
}

/// Modules linked into the test, for the cases that need a declaration no
/// fixture has: a wrong interface, a cycle.
mod linked {
    use super::*;

    /// Not `dep_callee`'s message type.
    #[derive(Debug, serde::Serialize, serde::Deserialize, postcard_schema::Schema)]
    pub(crate) enum WrongMsg {
        /// Some other message.
        Shout(String),
    }

    macro_rules! linked {
        ($ty:ident, $name:literal, [$($dep:expr),*]) => {
            #[derive(Debug, serde::Serialize, serde::Deserialize, postcard_schema::Schema)]
            pub(crate) struct $ty;
            impl Module for $ty {
                const NAME: &'static str = $name;
                type Args = ();
                type Msg = ();
                type Reply = ();
                const DEPENDS: &'static [Dependency] = &[$($dep),*];
                fn init((): (), _: &mut Context<'_>) -> Result<Self, ModuleError> {
                    Ok($ty)
                }
                fn handle(&mut self, (): (), _: &mut Context<'_>) {}
            }
        };
    }
    linked!(Shouter, "shouter", [dep!("dep_callee", "^1", WrongMsg, u32)]);
    linked!(Ping, "ping", [dep!("pong", "*", (), ())]);
    linked!(Pong, "pong", [dep!("ping", "*", (), ())]);
    linked!(Loose, "loose", [dep!("dep_callee", "not semver", CalleeMsg, u32)]);
    // Built against release 1 of `grow`'s types (`grow_api::v1`).
    linked!(GrowUser, "grow_user", [dep!("grow", "*", grow_api::v1::Msg, grow_api::v1::Reply)]);
    // Built against a fork whose third variant is not release 2's.
    linked!(ForkUser, "fork_user", [dep!("grow", "*", grow_api::fork::Msg, grow_api::v1::Reply)]);
}

#[test]
fn a_dependency_on_another_interface_is_refused_naming_the_type() {
    let (host, _callee, _caller) = host_with_v1();
    let e = host
        .code_server()
        .load("shouter", relive_sdk::declaration!(linked::Shouter, version = "1.0.0"))
        .unwrap_err();
    let LoadError::Dependency { problem, .. } = &e else { panic!("not a dependency: {e:?}") };
    let DependencyProblem::Interface { part, .. } = &**problem else {
        panic!("not an interface refusal: {e:?}")
    };
    assert_eq!(*part, Part::Message);
    let e = host
        .code_server()
        .load("loose", relive_sdk::declaration!(linked::Loose, version = "1.0.0"))
        .unwrap_err();
    assert!(
        matches!(&e, LoadError::Dependency { problem, .. }
            if matches!(**problem, DependencyProblem::BadRequirement { .. })),
        "{e:?}"
    );
}

#[test]
fn a_dependency_cycle_in_a_unit_is_a_typed_error() {
    let host = Host::new().unwrap();
    let unit: Vec<(String, Source)> = vec![
        ("ping".into(), relive_sdk::declaration!(linked::Ping, version = "1.0.0").into()),
        ("pong".into(), relive_sdk::declaration!(linked::Pong, version = "1.0.0").into()),
    ];
    let e = host.code_server().upgrade_all(unit, UpgradeOptions::default()).unwrap_err();
    let UpgradeError::Refused(LoadError::DependencyCycle { modules }) = &e else {
        panic!("not a cycle: {e:?}")
    };
    assert_eq!(modules, &["ping", "pong"]);
    assert!(host.code_server().modules().is_empty());
}

#[test]
fn a_callee_that_appends_variants_keeps_its_dependant_and_one_that_changes_them_breaks_it() {
    let host = Host::new().unwrap();
    let code = host.code_server();
    code.upgrade("grow", fixtures().path("grow_v1")).unwrap();
    code.load("grow_user", relive_sdk::declaration!(linked::GrowUser, version = "1.0.0")).unwrap();
    // Release 2 appends `Reset` (and a reply variant): the dependant, which
    // sends release 1's messages, is still served.
    code.upgrade("grow", fixtures().path("grow_v2")).unwrap();
    assert_eq!(version(&host, "grow"), "2.0.0");
    // A build that inserts a variant among release 1's is refused (its own
    // growth check comes first).
    let e = code.upgrade("grow", fixtures().path("grow_bad")).unwrap_err();
    assert!(matches!(&e, UpgradeError::Refused(LoadError::InterfaceMismatch { .. })), "{e:?}");
    assert_eq!(version(&host, "grow"), "2.0.0");
    // A dependant sending a forked third variant is refused against release 2.
    let e = code
        .load("fork_user", relive_sdk::declaration!(linked::ForkUser, version = "1.0.0"))
        .unwrap_err();
    let LoadError::Dependency { problem, .. } = &e else { panic!("not a dependency: {e:?}") };
    assert!(
        matches!(&**problem, DependencyProblem::Interface { part: Part::Message, .. }),
        "{e:?}"
    );
}

#[test]
fn rolling_back_only_the_callee_of_a_pair_is_refused_unless_forced() {
    let (host, callee, caller) = host_with_v1();
    let unit: Vec<(String, Source)> = vec![
        ("dep_callee".into(), fixtures().path("dep_callee_v2").into()),
        ("dep_caller".into(), fixtures().path("dep_caller_v2").into()),
    ];
    host.code_server().upgrade_all(unit, UpgradeOptions::default()).unwrap();
    // Callee 1.x under caller 2.x (which needs `^2`) never ran together.
    let e = host.code_server().rollback("dep_callee").unwrap_err();
    let UpgradeError::Rollback(relive_runtime::RollbackError::Dependency { dependant, on, .. }) =
        &e
    else {
        panic!("not a dependency refusal: {e:?}")
    };
    assert_eq!((dependant.as_str(), on.as_str()), ("dep_caller", "dep_callee"));
    assert_eq!(version(&host, "dep_callee"), "2.0.0");
    assert_eq!(callee.call(CalleeMsg::Ping(1)).unwrap(), 2001);
    // Nor the caller alone: caller 1.x needs callee `^1`. A pair that moved
    // together goes back together (`upgrade_all` of the older files) or
    // by force.
    let e = host.code_server().rollback("dep_caller").unwrap_err();
    assert!(
        matches!(&e, UpgradeError::Rollback(relive_runtime::RollbackError::Dependency { .. })),
        "{e:?}"
    );
    assert!(caller.call(7).unwrap());
    // Forced, a rollback goes back whatever it breaks (a supervisor's way out).
    let (host, _callee, _caller) = host_with_v1();
    let unit: Vec<(String, Source)> = vec![
        ("dep_callee".into(), fixtures().path("dep_callee_v2").into()),
        ("dep_caller".into(), fixtures().path("dep_caller_v2").into()),
    ];
    host.code_server().upgrade_all(unit, UpgradeOptions::default()).unwrap();
    host.code_server().rollback_with("dep_callee", true).unwrap();
    assert_eq!(version(&host, "dep_callee"), "1.0.0");
}
