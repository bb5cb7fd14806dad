//! Interfaces that grow (issue 15): a release may append message and reply
//! variants; anything else is refused naming the variant; callers on the
//! older types keep working, callers on newer types are refused typed by an
//! actor still on an older version; a rollback keeps the variants in use.
//! All on real libraries: `grow_v1`, `grow_v2` (appends `Reset` and the
//! reply `Cleared`), `grow_v3` (appends `Double`), `grow_bad` (inserts
//! `Reset` before `Get`).

use grow_api::{bad, v1, v2, v3};
use relive_runtime::code_server::{LoadError, Part, RollbackError, TypeMismatch, VariantMismatch};
use relive_runtime::host::{Canary, UpgradeError, UpgradeMode, UpgradeOptions};
use relive_runtime::{ActorRef, CallError, ExitReason, Host};
use relive_test_support::fixtures;
use std::time::{Duration, Instant};

type Old = ActorRef<v1::Msg, v1::Reply>;
type New = ActorRef<v2::Msg, v2::Reply>;

fn host_with_v1(actors: usize) -> (Host, Vec<Old>) {
    let host = Host::builder().workers(2).build().unwrap();
    host.code_server().upgrade("grow", fixtures().path("grow_v1")).unwrap();
    let refs = (0..actors).map(|i| host.spawn("grow", &(i as u64 * 10)).unwrap()).collect();
    (host, refs)
}

fn count(r: &v1::Reply) -> (u64, u32) {
    let v1::Reply::Count { count, release } = r;
    (*count, *release)
}

fn newer(old: &Old) -> New {
    old.any().typed::<v2::Msg, v2::Reply>().unwrap()
}

#[test]
fn a_release_that_appends_variants_is_accepted_and_old_callers_keep_working() {
    let (host, refs) = host_with_v1(2);
    refs[0].cast(v1::Msg::Add(5)).unwrap();
    let report = host.code_server().upgrade("grow", fixtures().path("grow_v2")).unwrap();
    assert_eq!(report.migrated, 2);
    // The callers typed on release 1 are served by release 2, state kept.
    assert_eq!(count(&refs[0].call(v1::Msg::Get).unwrap()), (5, 2));
    assert_eq!(count(&refs[1].call(v1::Msg::Add(1)).unwrap()), (11, 2));
    // A caller on release 2's types reaches the new variant.
    let new = newer(&refs[0]);
    assert_eq!(new.call(v2::Msg::Reset).unwrap(), v2::Reply::Cleared { was: 5 });
    assert_eq!(count(&refs[0].call(v1::Msg::Get).unwrap()), (0, 2));
    // And a typed spawn of release 1's types on release 2 is accepted too.
    let spawned: Old = host.spawn("grow", &7u64).unwrap();
    assert_eq!(count(&spawned.call(v1::Msg::Get).unwrap()), (7, 2));
}

#[test]
fn a_release_that_changes_a_variant_is_refused_naming_it() {
    let (host, refs) = host_with_v1(1);
    let e = host.code_server().upgrade("grow", fixtures().path("grow_bad")).unwrap_err();
    let UpgradeError::Refused(LoadError::InterfaceMismatch { what, variant: Some(v), .. }) = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(*what, Part::Message);
    assert_eq!(
        (v.index, v.expected.as_deref(), v.found.as_deref()),
        (1, Some("Get"), Some("Reset")),
        "{v}"
    );
    let text = e.to_string();
    assert!(text.contains("variant 1 is `Get`") && text.contains("`Reset`"), "{text}");
    assert!(std::error::Error::source(&e).is_some(), "the variant is the source");
    // Nothing changed: release 1 serves on.
    assert_eq!(host.code_server().current("grow").unwrap().version().to_string(), "1.0.0");
    assert_eq!(count(&refs[0].call(v1::Msg::Get).unwrap()), (0, 1));
}

#[test]
fn a_release_that_drops_a_variant_is_refused_naming_it() {
    let host = Host::builder().workers(1).build().unwrap();
    host.code_server().upgrade("grow", fixtures().path("grow_v2")).unwrap();
    let e = host.code_server().upgrade("grow", fixtures().path("grow_v1")).unwrap_err();
    let UpgradeError::Refused(LoadError::InterfaceMismatch { variant: Some(v), .. }) = &e else {
        panic!("{e:?}")
    };
    let VariantMismatch { part, index, expected, found, .. } = &**v;
    assert_eq!((*part, *index), (Part::Message, 2));
    assert_eq!((expected.as_deref(), found.as_deref()), (Some("Reset"), None), "{v}");
    assert!(e.to_string().contains("absent"), "{e}");
}

#[test]
fn a_caller_whose_variant_differs_is_refused_when_it_types_the_actor() {
    let (_host, refs) = host_with_v1(1);
    let e = refs[0].any().typed::<bad::Msg, v1::Reply>().unwrap_err();
    let TypeMismatch { part, variant: Some(v), .. } = &e else { panic!("{e:?}") };
    assert_eq!((*part, v.index), (Part::Message, 1));
    assert_eq!((v.expected.as_deref(), v.found.as_deref()), (Some("Get"), Some("Reset")));
}

#[test]
fn a_newer_caller_is_served_for_the_variants_the_older_version_knows_and_refused_typed_for_the_rest()
 {
    let (host, refs) = host_with_v1(2);
    let opts = UpgradeOptions::new().mode(UpgradeMode::Gradual(Canary::Count(1)));
    host.code_server().upgrade_with("grow", fixtures().path("grow_v2"), opts).unwrap();
    let canaries = host.code_server().canaries("grow").unwrap();
    let (canary, other) =
        if canaries.contains(&refs[0].id()) { (&refs[0], &refs[1]) } else { (&refs[1], &refs[0]) };
    let (canary, other) = (newer(canary), newer(other));
    // The non-canary still runs release 1: `Get` is served by it…
    let v2::Reply::Count { release, .. } = other.call(v2::Msg::Get).unwrap() else { panic!() };
    assert_eq!(release, 1);
    // …and `Reset`, which release 1 lacks, is refused before it sees it.
    let e = other.call(v2::Msg::Reset).unwrap_err();
    let CallError::UnknownVariant(u) = &e else { panic!("{e:?}") };
    assert_eq!((u.variant, u.known, u.version.as_str()), (2, 2, "1.0.0"), "{u}");
    // A cast of it is a dead letter, counted, not a guess.
    let dead = host.dead_letters();
    other.cast(v2::Msg::Reset).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while host.dead_letters() == dead && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(host.dead_letters(), dead + 1);
    // The canary, on release 2, takes it.
    assert!(matches!(canary.call(v2::Msg::Reset).unwrap(), v2::Reply::Cleared { .. }));
    // The state of the non-canary was never touched by the refused messages.
    let v2::Reply::Count { count, .. } = other.call(v2::Msg::Get).unwrap() else { panic!() };
    assert_eq!(count, if canaries.contains(&refs[0].id()) { 10 } else { 0 });
}

#[test]
fn a_reply_variant_the_caller_does_not_know_is_a_typed_decode_error() {
    let (host, refs) = host_with_v1(1);
    host.code_server().upgrade("grow", fixtures().path("grow_v2")).unwrap();
    // New messages, old replies: `Reset` answers `Cleared`, unknown to it.
    let mixed = refs[0].any().typed::<v2::Msg, v1::Reply>().unwrap();
    let e = mixed.call(v2::Msg::Reset).unwrap_err();
    assert!(matches!(e, CallError::Decode(_)), "{e:?}");
    // The reply it knows still decodes.
    assert_eq!(count(&mixed.call(v2::Msg::Get).unwrap()), (0, 2));
}

#[test]
fn a_rollback_to_a_release_lacking_a_used_variant_is_refused_unless_forced() {
    let (host, refs) = host_with_v1(1);
    host.code_server().upgrade("grow", fixtures().path("grow_v2")).unwrap();
    let new = newer(&refs[0]);
    new.call(v2::Msg::Add(3)).unwrap();
    new.call(v2::Msg::Reset).unwrap();
    let e = host.code_server().rollback("grow").unwrap_err();
    let UpgradeError::Rollback(RollbackError::VariantInUse { variant, name, known, .. }) = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!((*variant, name.as_str(), *known), (2, "Reset", 2), "{e}");
    // Refused: release 2 serves on.
    assert_eq!(host.code_server().current("grow").unwrap().version().to_string(), "2.0.0");
    assert!(matches!(new.call(v2::Msg::Reset).unwrap(), v2::Reply::Cleared { .. }));
    // Forced: back on release 1, where `Reset` is refused typed.
    host.code_server().rollback_with("grow", true).unwrap();
    let e = new.call(v2::Msg::Reset).unwrap_err();
    assert!(matches!(e, CallError::UnknownVariant(_)), "{e:?}");
    assert_eq!(count(&refs[0].call(v1::Msg::Add(1)).unwrap()), (1, 1));
}

#[test]
fn a_rollback_is_allowed_when_no_caller_used_the_new_variant() {
    let (host, refs) = host_with_v1(1);
    host.code_server().upgrade("grow", fixtures().path("grow_v2")).unwrap();
    newer(&refs[0]).call(v2::Msg::Add(4)).unwrap();
    host.code_server().rollback("grow").unwrap();
    assert_eq!(count(&refs[0].call(v1::Msg::Get).unwrap()), (4, 1));
}

#[test]
fn a_gradual_abort_after_a_canary_took_a_new_variant_is_refused_unless_forced() {
    let (host, refs) = host_with_v1(2);
    let opts = UpgradeOptions::new().mode(UpgradeMode::Gradual(Canary::Count(1)));
    host.code_server().upgrade_with("grow", fixtures().path("grow_v2"), opts).unwrap();
    let canary = host.code_server().canaries("grow").unwrap()[0];
    let canary = refs.iter().find(|r| r.id() == canary).map(newer).unwrap();
    canary.call(v2::Msg::Reset).unwrap();
    let e = host.code_server().abort("grow").unwrap_err();
    assert!(
        matches!(e, UpgradeError::Rollback(RollbackError::VariantInUse { variant: 2, .. })),
        "{e:?}"
    );
    // Still a gradual upgrade: the canary serves `Reset`.
    assert!(host.code_server().canaries("grow").is_some());
    assert!(matches!(canary.call(v2::Msg::Reset).unwrap(), v2::Reply::Cleared { .. }));
    host.code_server().abort_with("grow", true).unwrap();
    assert!(matches!(canary.call(v2::Msg::Reset).unwrap_err(), CallError::UnknownVariant(_)));
}

/// The `grow_caller` module, which sends `grow` messages of both releases.
fn caller(host: &Host) -> ActorRef<grow_caller::CallerMsg, String> {
    host.code_server().upgrade("grow_caller", fixtures().path("grow_caller")).unwrap();
    host.spawn("grow_caller", &()).unwrap()
}

#[test]
fn a_module_sending_an_older_release_reaches_an_actor_spawned_on_a_newer_one() {
    let host = Host::builder().workers(2).build().unwrap();
    host.code_server().upgrade("grow", fixtures().path("grow_v2")).unwrap();
    let target: New = host.spawn("grow", &1u64).unwrap();
    let sender = caller(&host);
    let to = target.id().get();
    assert_eq!(sender.call(grow_caller::CallerMsg::AddV1 { to, n: 2 }).unwrap(), "ok");
    let deadline = Instant::now() + Duration::from_secs(5);
    while target.handled() < 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(target.call(v2::Msg::Get).unwrap(), v2::Reply::Count { count: 3, release: 2 });
}

#[test]
fn a_module_sending_a_newer_release_is_refused_until_the_module_has_it() {
    let (host, refs) = host_with_v1(1);
    let sender = caller(&host);
    let to = refs[0].id().get();
    // Only a fingerprint crosses the boundary: no loaded version of `grow`
    // has release 2's type yet, so the send is refused, typed, at once.
    let refused = sender.call(grow_caller::CallerMsg::ResetV2 { to }).unwrap();
    assert!(refused.contains("not the target's"), "{refused}");
    host.code_server().upgrade("grow", fixtures().path("grow_v2")).unwrap();
    refs[0].call(v1::Msg::Add(4)).unwrap();
    assert_eq!(sender.call(grow_caller::CallerMsg::ResetV2 { to }).unwrap(), "ok");
    let deadline = Instant::now() + Duration::from_secs(5);
    while count(&refs[0].call(v1::Msg::Get).unwrap()).0 != 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(count(&refs[0].call(v1::Msg::Get).unwrap()), (0, 2));
}

/// A `grow` release built before variant tables existed: its declaration
/// ends before them (a fixed interface, checked by fingerprint).
mod before_tables {
    use grow_api::{
        GrowState,
        v1::{Msg, Reply},
    };
    use relive_sdk::abi::{ModuleDecl, VTable};
    use relive_sdk::{Context, Module, ModuleError};

    #[derive(Debug, serde::Serialize, serde::Deserialize, postcard_schema::Schema)]
    pub(crate) struct Grow(GrowState);

    impl Module for Grow {
        const NAME: &'static str = "grow";
        type Args = u64;
        type Msg = Msg;
        type Reply = Reply;

        fn init(count: u64, _: &mut Context<'_>) -> Result<Self, ModuleError> {
            Ok(Grow(GrowState { count }))
        }

        fn handle(&mut self, msg: Msg, _: &mut Context<'_>) -> Reply {
            if let Msg::Add(n) = msg {
                self.0.count += n;
            }
            Reply::Count { count: self.0.count, release: 0 }
        }
    }

    static TABLE: VTable = VTable::new::<Grow>();

    pub(crate) static DECL: ModuleDecl = ModuleDecl {
        decl_size: std::mem::offset_of!(ModuleDecl, message_variants) as u32,
        ..ModuleDecl::new::<Grow>(
            &TABLE,
            relive_sdk::BuildInfo { version: "1.0.0", build_id: "", panic_unwind: true },
        )
    };
}

#[test]
fn a_release_built_before_variant_tables_is_fixed_and_a_listed_release_may_extend_it() {
    let host = Host::builder().workers(1).build().unwrap();
    host.code_server().upgrade("grow", &before_tables::DECL).unwrap();
    assert!(host.code_server().current("grow").unwrap().message_variants().is_none());
    let old: Old = host.spawn("grow", &2u64).unwrap();
    assert_eq!(count(&old.call(v1::Msg::Get).unwrap()), (2, 0));
    // Its fingerprint is release 2's first two variants: release 2 extends it.
    host.code_server().upgrade("grow", fixtures().path("grow_v2")).unwrap();
    assert_eq!(count(&old.call(v1::Msg::Add(1)).unwrap()), (3, 2));
}

#[test]
fn a_fixed_release_that_changes_the_type_is_refused_without_a_variant_to_name() {
    let host = Host::builder().workers(1).build().unwrap();
    host.code_server().upgrade("grow", fixtures().path("grow_v2")).unwrap();
    // Release 2 lists three variants; the fixed release has two: not an extension.
    let e = host.code_server().upgrade("grow", &before_tables::DECL).unwrap_err();
    let UpgradeError::Refused(LoadError::InterfaceMismatch { what, variant, .. }) = &e else {
        panic!("{e:?}")
    };
    assert_eq!((*what, variant), (Part::Message, &None), "{e}");
}

#[test]
fn a_variant_index_keeps_its_meaning_after_a_forced_rollback() {
    let host = Host::builder().workers(1).build().unwrap();
    host.code_server().upgrade("grow", fixtures().path("grow_v1")).unwrap();
    host.code_server().upgrade("grow", fixtures().path("grow_v2")).unwrap();
    // An untyped spawn on release 2: nothing but the version knows its type.
    let args = relive_runtime::SpawnOptions::new();
    let _on_v2 =
        host.spawn_encoded("grow", &[0], relive_codec::Fingerprint::of::<u64>(), args).unwrap();
    host.code_server().rollback_with("grow", true).unwrap();
    host.code_server().purge("grow").unwrap();
    // Release 1 plus `Clear` extends the running release 1, but index 2 was
    // release 2's `Reset`: refused, naming it.
    let e = host.code_server().upgrade("grow", fixtures().path("grow_fork")).unwrap_err();
    let UpgradeError::Refused(LoadError::InterfaceMismatch { variant: Some(v), .. }) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(
        (v.index, v.expected.as_deref(), v.found.as_deref()),
        (2, Some("Reset"), Some("Clear"))
    );
}

#[test]
fn an_actor_started_on_a_release_a_forced_rollback_left_restarts_in_place_on_the_older_one() {
    let host = Host::builder().workers(2).build().unwrap();
    host.code_server().upgrade("grow", fixtures().path("grow_v1")).unwrap();
    host.code_server().upgrade("grow", fixtures().path("grow_v2")).unwrap();
    // A child started on release 2 (as a supervisor's would be): its saved
    // message type is release 2's, newer than release 1.
    let child: New = host.spawn("grow", &5u64).unwrap();
    // Release 2 crash-loops; the supervisor forces the rollback.
    host.code_server().rollback_with("grow", true).unwrap();
    assert_eq!(child.call(v2::Msg::Get).unwrap(), v2::Reply::Count { count: 5, release: 1 });
    // Then the child crashes and is restarted in place, on release 1.
    host.terminate(&child.any(), ExitReason::Shutdown).unwrap();
    let mut args = Vec::new();
    relive_codec::encode_into(&7u64, &mut args).unwrap();
    host.respawn(&child.any(), &args, relive_codec::Fingerprint::of::<u64>())
        .expect("release 1 is a prefix of the child's type: it restarts");
    assert_eq!(child.call(v2::Msg::Get).unwrap(), v2::Reply::Count { count: 7, release: 1 });
    // The variant release 1 lacks is refused typed, never mis-decoded.
    let e = child.call(v2::Msg::Reset).unwrap_err();
    let CallError::UnknownVariant(u) = &e else { panic!("{e:?}") };
    assert_eq!((u.variant, u.known), (2, 2), "{u}");
    // Upgraded again, the restarted child takes it.
    host.code_server().upgrade("grow", fixtures().path("grow_v2")).unwrap();
    assert_eq!(child.call(v2::Msg::Reset).unwrap(), v2::Reply::Cleared { was: 7 });
}

#[test]
fn a_restart_in_place_with_init_arguments_of_another_type_is_still_refused() {
    let host = Host::builder().workers(1).build().unwrap();
    host.code_server().upgrade("grow", fixtures().path("grow_v2")).unwrap();
    let child: New = host.spawn("grow", &1u64).unwrap();
    host.terminate(&child.any(), ExitReason::Shutdown).unwrap();
    // Init arguments of another type stay refused: equality, not growth.
    let mut args = Vec::new();
    relive_codec::encode_into(&1u32, &mut args).unwrap();
    let e = host.respawn(&child.any(), &args, relive_codec::Fingerprint::of::<u32>()).unwrap_err();
    assert!(
        matches!(&e, relive_runtime::SpawnError::Types(TypeMismatch { part: Part::Args, .. })),
        "{e:?}"
    );
}

#[test]
fn a_module_sender_on_a_middle_release_reaches_an_actor_started_on_the_first_once_the_third_runs() {
    // The actor's type is release 1's, for life.
    let (host, refs) = host_with_v1(1);
    host.code_server().upgrade("grow", fixtures().path("grow_v2")).unwrap();
    host.code_server().upgrade("grow", fixtures().path("grow_v3")).unwrap();
    host.code_server().purge("grow").unwrap();
    assert!(host.code_server().old("grow").is_none(), "release 2 is gone");
    refs[0].call(v1::Msg::Add(4)).unwrap();
    // A module sends release 2's `Reset`: neither the actor's type nor
    // release 3's, but both are prefixes of release 3's list.
    let sender = caller(&host);
    let to = refs[0].id().get();
    assert_eq!(sender.call(grow_caller::CallerMsg::ResetV2 { to }).unwrap(), "ok");
    let deadline = Instant::now() + Duration::from_secs(5);
    while count(&refs[0].call(v1::Msg::Get).unwrap()).0 != 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(count(&refs[0].call(v1::Msg::Get).unwrap()), (0, 3));
    // And release 1's `Add` still reaches it, as does a caller on release 3.
    assert_eq!(sender.call(grow_caller::CallerMsg::AddV1 { to, n: 3 }).unwrap(), "ok");
    let newest = refs[0].any().typed::<v3::Msg, v3::Reply>().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while count(&refs[0].call(v1::Msg::Get).unwrap()).0 != 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    newest.call(v3::Msg::Double).unwrap();
    assert_eq!(newest.call(v3::Msg::Get).unwrap(), v3::Reply::Count { count: 6, release: 3 });
}
