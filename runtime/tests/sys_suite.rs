//! OTP's `sys` on relive actors (issue 14): get_state, replace_state,
//! suspend and resume, statistics, and a bounded trace, against a real
//! module library (`test-modules/inventory`) on real worker threads. Each
//! test follows a case of OTP's `gen_server_SUITE` or `sys_SUITE`.

use inventory::InventoryMsg;
use relive_runtime::actor::CallError;
use relive_runtime::{
    ActorRef, AnyActor, ExitReason, Host, ModuleCallError, NativeActor, NativeContext,
    SpawnOptions, SysError, TraceKind,
};
use relive_test_support::fixtures;
use serde_json::json;
use std::time::{Duration, Instant};

type Inventory = ActorRef<InventoryMsg, u64>;

fn host() -> Host {
    let host = Host::builder().workers(2).build().unwrap();
    host.code_server().upgrade("inventory", fixtures().path("inventory")).unwrap();
    host
}

fn spawn(host: &Host, owner: &str) -> (Inventory, AnyActor) {
    let a: Inventory = host.spawn("inventory", &owner.to_owned()).unwrap();
    let any = a.any();
    (a, any)
}

fn add(item: &str, n: u64) -> InventoryMsg {
    InventoryMsg::Add { item: item.into(), n }
}

/// Wait (with a deadline) until `f` holds.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

// gen_server_SUITE get_state: `sys:get_state/1,2`, also while suspended.
#[test]
fn get_state() {
    let host = host();
    let (a, any) = spawn(&host, "ann");
    a.cast(add("apple", 3)).unwrap();
    assert_eq!(a.call(add("pear", 2)).unwrap(), 5);
    let sys = host.sys();
    let state = sys.get_state(&any).unwrap();
    assert_eq!(state, json!({"owner": "ann", "items": {"apple": 3, "pear": 2}, "total": 5}));
    // With a timeout (`sys:get_state(Pid, 5000)`), and while suspended.
    let sys = sys.timeout(Duration::from_secs(5));
    sys.suspend(&any).unwrap();
    assert_eq!(sys.get_state(&any).unwrap(), state);
    sys.resume(&any).unwrap();
    assert_eq!(a.call(InventoryMsg::Total).unwrap(), 5);
}

// gen_server_SUITE get_state, the `{Pid, Timeout}` form: a busy actor gives a
// timeout, never a hang, and answers once it reaches a message boundary.
#[test]
fn get_state_timeout() {
    let host = host();
    let (a, any) = spawn(&host, "bob");
    a.cast(InventoryMsg::Sleep { ms: 1500 }).unwrap();
    eventually("the sleep to start", || host.sys().statistics(&any).unwrap().turns > 0);
    let e = host.sys().timeout(Duration::from_millis(200)).get_state(&any).unwrap_err();
    assert!(matches!(e, SysError::Timeout { .. }), "{e:?}");
    // The request stays queued: the actor answers the next one once free.
    assert_eq!(host.sys().get_state(&any).unwrap()["owner"], "bob");
    assert!(!a.is_exited());
}

// gen_server_SUITE replace_state: the new state is returned; a replace that
// fails leaves the state unchanged and the actor running.
#[test]
fn replace_state() {
    let host = host();
    let (a, any) = spawn(&host, "cy");
    a.call(add("apple", 1)).unwrap();
    let sys = host.sys();
    let new = json!({"owner": "dee", "items": {"plum": 7}, "total": 7});
    assert_eq!(sys.replace_state(&any, &new).unwrap(), new);
    assert_eq!(a.call(add("plum", 1)).unwrap(), 8);

    let before = sys.get_state(&any).unwrap();
    // Does not decode as the module's state (a field missing).
    let e = sys.replace_state(&any, &json!({"owner": "x"})).unwrap_err();
    assert!(
        matches!(&e, SysError::Module { source: ModuleCallError::BadInput { .. }, .. }),
        "{e:?}"
    );
    // Decodes, but the module's `validate` refuses it.
    let e = sys
        .replace_state(&any, &json!({"owner": "x", "items": {"plum": 1}, "total": 99}))
        .unwrap_err();
    match &e {
        SysError::Module { source: ModuleCallError::Failed { message, .. }, .. } => {
            assert!(message.contains("not the sum"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(std::error::Error::source(&e).is_some());
    assert_eq!(sys.get_state(&any).unwrap(), before);
    assert_eq!(a.call(InventoryMsg::Total).unwrap(), 8);

    // It also works while suspended.
    sys.suspend(&any).unwrap();
    let third = json!({"owner": "eve", "items": {}, "total": 0});
    assert_eq!(sys.replace_state(&any, &third).unwrap(), third);
    sys.resume(&any).unwrap();
    assert_eq!(a.call(InventoryMsg::Total).unwrap(), 0);
}

// sys_SUITE suspend: a call to a suspended actor times out, suspending and
// resuming twice is no error, and the queued mail is handled after resume.
#[test]
fn suspend() {
    let host = host();
    let (a, any) = spawn(&host, "fay");
    let sys = host.sys();
    sys.suspend(&any).unwrap();
    assert!(sys.statistics(&any).unwrap().suspended);
    let e = a.call_timeout(add("fig", 48), Duration::from_millis(300)).unwrap_err();
    assert!(matches!(e, CallError::Timeout), "{e:?}");
    a.cast(add("fig", 2)).unwrap();
    // Nothing was handled while suspended; the mail waits, in order.
    std::thread::sleep(Duration::from_millis(50));
    let stats = sys.statistics(&any).unwrap();
    assert_eq!((stats.messages_in, stats.mailbox_len), (0, 2));
    let view = host.actor_views().into_iter().find(|v| v.id == any.id()).unwrap();
    assert_eq!(view.state, relive_runtime::host::views::ActorState::Suspended);
    sys.suspend(&any).unwrap(); // twice: no error
    sys.resume(&any).unwrap();
    assert!(!sys.statistics(&any).unwrap().suspended);
    // The call that timed out was handled after all, and the cast after it.
    assert_eq!(a.call(InventoryMsg::Total).unwrap(), 50);
    sys.resume(&any).unwrap(); // twice: no error
    assert_eq!(sys.statistics(&any).unwrap().messages_in, 3);
}

// sys_SUITE suspend, with `sys:terminate` and the exit path: a suspended
// actor still obeys a stop, and its queued callers hear the exit reason.
#[test]
fn suspended_actor_still_stops() {
    let host = host();
    let (a, any) = spawn(&host, "gus");
    host.sys().suspend(&any).unwrap();
    let a2 = a.clone();
    let caller =
        std::thread::spawn(move || a2.call_timeout(InventoryMsg::Total, Duration::from_secs(10)));
    eventually("the call to queue", || a.mailbox_len() == 1);
    host.stop(&a, ExitReason::Shutdown).expect("it was running");
    let e = caller.join().unwrap().unwrap_err();
    assert!(matches!(e, CallError::Exited(ExitReason::Shutdown)), "{e:?}");
}

// sys_SUITE stats: `messages_in` and `messages_out` after one call.
#[test]
fn stats() {
    let host = host();
    let (a, any) = spawn(&host, "hal");
    let sys = host.sys();
    assert_eq!(a.call(add("kiwi", 44)).unwrap(), 44);
    let s = sys.statistics(&any).unwrap();
    assert_eq!((s.messages_in, s.messages_out), (1, 1));
    assert!(s.turns >= 1);
    a.cast(add("kiwi", 1)).unwrap();
    eventually("the cast", || sys.statistics(&any).unwrap().messages_in == 2);
    // A cast is in without out.
    assert_eq!(sys.statistics(&any).unwrap().messages_out, 1);
}

// sys_SUITE log (and trace): a bounded ring of the last N events, oldest
// first, messages and replies rendered by the module; off drops it.
#[test]
fn log() {
    let host = host();
    let (a, any) = spawn(&host, "ivy");
    let sys = host.sys();
    assert_eq!(sys.trace_log(&any).unwrap(), None);
    sys.trace(&any, 3).unwrap();
    a.cast(add("apple", 1)).unwrap(); // in: cast (seq 0)
    assert_eq!(a.call(InventoryMsg::Total).unwrap(), 1); // in: call (1), out: reply (2)
    assert_eq!(a.call(add("pear", 2)).unwrap(), 3); // in: call (3), out: reply (4)
    let events = sys.trace_log(&any).unwrap().unwrap();
    let seen: Vec<_> = events.iter().map(|e| (e.seq, e.kind, e.message.clone())).collect();
    assert_eq!(
        seen,
        vec![
            (2, TraceKind::Reply, json!(1)),
            (3, TraceKind::Call, json!({"Add": {"item": "pear", "n": 2}})),
            (4, TraceKind::Reply, json!(3)),
        ]
    );
    // Resize (`sys:log(Pid, {true, N})`) keeps the newest.
    sys.trace(&any, 1).unwrap();
    let events = sys.trace_log(&any).unwrap().unwrap();
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![4]);
    sys.untrace(&any).unwrap();
    a.cast(add("apple", 1)).unwrap();
    assert_eq!(sys.trace_log(&any).unwrap(), None);
}

// gen_server_SUITE / sys_SUITE: every `sys` call on a dead process fails
// (noproc), typed.
#[test]
fn sys_on_a_dead_actor_is_noproc() {
    let host = host();
    let (_a, any) = spawn(&host, "jo");
    assert_eq!(host.terminate(&any, ExitReason::Normal), Ok(true));
    let sys = host.sys();
    let id = any.id();
    let noproc = |r: Result<(), SysError>| matches!(r, Err(SysError::NoProc(i)) if i == id);
    assert!(noproc(sys.suspend(&any)));
    assert!(noproc(sys.resume(&any)));
    assert!(noproc(sys.get_state(&any).map(drop)));
    assert!(noproc(sys.replace_state(&any, &json!({})).map(drop)));
    assert!(noproc(sys.statistics(&any).map(drop)));
    assert!(noproc(sys.trace(&any, 5)));
    assert!(noproc(sys.trace_log(&any).map(drop)));
}

struct Echo;

impl NativeActor for Echo {
    type Msg = u64;
    type Reply = u64;

    fn handle(&mut self, msg: u64, _: &mut NativeContext<'_>) -> u64 {
        msg
    }
}

// sys_SUITE special_process: a process that is not a gen_server answers
// suspend/resume and statistics; a host-native actor has no module state.
#[test]
fn special_process() {
    let host = host();
    let echo = host.spawn_native(Echo, SpawnOptions::default()).unwrap();
    let any = echo.any();
    let sys = host.sys();
    let e = sys.get_state(&any).unwrap_err();
    assert!(matches!(e, SysError::NotAModule(_)), "{e:?}");
    sys.trace(&any, 10).unwrap();
    sys.suspend(&any).unwrap();
    echo.cast(7).unwrap();
    sys.resume(&any).unwrap();
    assert_eq!(echo.call(8).unwrap(), 8);
    let s = sys.statistics(&any).unwrap();
    assert_eq!((s.messages_in, s.messages_out), (2, 1));
    // Its messages show as hex: the host has no module to render them.
    let events = sys.trace_log(&any).unwrap().unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].kind, TraceKind::Cast);
    assert!(events[0].message.is_string());
}

/// A module as it was built before `sys`: its function table stops at
/// `drop_state` (the host reads only the `size` it reports).
mod before_sys {
    use postcard_schema::Schema;
    use relive_sdk::abi::{ModuleDecl, VTable};
    use relive_sdk::{Context, Module, ModuleError};
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Serialize, Deserialize, Schema)]
    pub(crate) struct Old {
        n: u64,
    }

    impl Module for Old {
        const NAME: &'static str = "old";
        type Args = u64;
        type Msg = u64;
        type Reply = u64;

        fn init(n: u64, _: &mut Context<'_>) -> Result<Self, ModuleError> {
            Ok(Old { n })
        }

        fn handle(&mut self, msg: u64, _: &mut Context<'_>) -> u64 {
            self.n += msg;
            self.n
        }
    }

    static TABLE: VTable = {
        let mut t = VTable::new::<Old>();
        t.size = std::mem::offset_of!(VTable, state_json) as u32;
        t
    };

    pub(crate) static DECL: ModuleDecl = ModuleDecl::new::<Old>(
        &TABLE,
        relive_sdk::BuildInfo { version: "1.0.0", build_id: "", panic_unwind: true },
    );
}

// gen_server_SUITE get_state / replace_state for a module without
// `system_get_state`/`system_replace_state` (OTP: `callback_failed`): a module
// built before `sys` still loads and runs, and answers a typed "unsupported".
#[test]
fn get_state_of_a_module_built_before_sys() {
    let host = Host::builder().workers(2).build().unwrap();
    host.code_server().load("old", &before_sys::DECL).unwrap();
    let a: ActorRef<u64, u64> = host.spawn("old", &1u64).unwrap();
    let any = a.any();
    let sys = host.sys();
    for e in
        [sys.get_state(&any).unwrap_err(), sys.replace_state(&any, &json!({"n": 2})).unwrap_err()]
    {
        assert!(
            matches!(&e, SysError::Module { source: ModuleCallError::Unsupported { .. }, .. }),
            "{e:?}"
        );
    }
    sys.trace(&any, 4).unwrap();
    sys.suspend(&any).unwrap();
    sys.resume(&any).unwrap();
    assert_eq!(a.call(2).unwrap(), 3);
    let events = sys.trace_log(&any).unwrap().unwrap();
    // Shown as the encoded bytes in hex: postcard's varint 2, then 3.
    assert_eq!(
        events.iter().map(|e| e.message.clone()).collect::<Vec<_>>(),
        vec![json!("02"), json!("03")]
    );
}

/// Asks `sys` about its target from its handler.
struct Asker {
    target: AnyActor,
}

impl NativeActor for Asker {
    type Msg = ();
    type Reply = String;

    fn handle(&mut self, (): (), ctx: &mut NativeContext<'_>) -> String {
        match ctx.host().sys().get_state(&self.target) {
            Err(SysError::FromHandler(_)) => "refused".into(),
            other => format!("{other:?}"),
        }
    }
}

// sys_SUITE has no such case (an Erlang process may call `sys` on another):
// a handler must never block its worker, so a `sys` call that waits is
// refused there, typed, as a `call` from a handler is.
#[test]
fn sys_from_a_handler_is_refused() {
    let host = host();
    let (_a, any) = spawn(&host, "kim");
    let asker = host.spawn_native(Asker { target: any }, SpawnOptions::default()).unwrap();
    assert_eq!(asker.call(()).unwrap(), "refused");
}
