//! Issue 18: the runtime's hooks for a transport (`relive-cluster`): an
//! actor reached with encoded messages once the fingerprints of the
//! sender's types are checked, and a monitor resolved from outside.

use counter_api::{CounterMsg, CounterReply};
use relive_codec::Fingerprint;
use relive_runtime::actor::{CallError, Monitor};
use relive_runtime::code_server::Part;
use relive_runtime::{ExitReason, Host, SpawnOptions};
use relive_test_support::fixtures;
use std::time::Duration;

fn encode(msg: &CounterMsg) -> Result<Vec<u8>, relive_codec::CodecError> {
    let mut buf = Vec::new();
    relive_codec::encode_into(msg, &mut buf).map(|()| buf)
}

type Counter = relive_runtime::ActorRef<CounterMsg, CounterReply>;

fn host_with_counter(name: &str) -> (Host, Counter) {
    let host = Host::builder().workers(1).build().unwrap();
    host.code_server().upgrade("counter", fixtures().path("counter_v1")).unwrap();
    let c = host.spawn_with("counter", &5u64, SpawnOptions::new().name(name)).unwrap();
    (host, c)
}

#[tokio::test]
async fn encoded_call_and_cast_reach_the_actor_and_the_reply_is_the_encoding() {
    let (host, typed) = host_with_counter("c");
    let any = host.whereis_any("c").unwrap();
    let (m, r) = (Fingerprint::of::<CounterMsg>(), Fingerprint::of::<CounterReply>());
    let raw = any.encoded(m, r).unwrap();
    assert_eq!(raw.fingerprints(), (m, r));
    assert_eq!(raw.module(), Some("counter"));
    raw.cast_async(encode(&CounterMsg::Add(10)).unwrap()).await.unwrap();
    let reply = raw
        .call_async_timeout(encode(&CounterMsg::Add(1)).unwrap(), Duration::from_secs(5))
        .await
        .unwrap();
    let reply: CounterReply = relive_codec::decode(&reply).unwrap();
    assert_eq!(reply, CounterReply { logic: 1, count: 16 });
    assert_eq!(typed.call(CounterMsg::Get).unwrap().count, 16, "the same actor");
}

#[tokio::test]
async fn a_fingerprint_that_is_not_the_actors_is_refused_before_anything_is_sent() {
    let (host, typed) = host_with_counter("c");
    let any = host.whereis_any("c").unwrap();
    let e = any.encoded(Fingerprint::of::<u32>(), Fingerprint::of::<CounterReply>()).unwrap_err();
    assert_eq!(e.part, Part::Message);
    assert_eq!(e.found, Fingerprint::of::<u32>());
    let e = any.encoded(Fingerprint::of::<CounterMsg>(), Fingerprint::of::<u64>()).unwrap_err();
    assert_eq!(e.part, Part::Reply);
    assert_eq!(typed.handled(), 0);
}

#[tokio::test]
async fn encoded_call_answers_a_typed_error_when_the_actor_exits_on_it() {
    let (host, _typed) = host_with_counter("c");
    let any = host.whereis_any("c").unwrap();
    let raw =
        any.encoded(Fingerprint::of::<CounterMsg>(), Fingerprint::of::<CounterReply>()).unwrap();
    let down = raw.monitor();
    let bytes = encode(&CounterMsg::Panic("boom".into())).unwrap();
    let e = raw.call_async_timeout(bytes, Duration::from_secs(5)).await.unwrap_err();
    assert!(matches!(e, CallError::Exited(ExitReason::Panicked(_))), "{e:?}");
    assert!(matches!(down.await, ExitReason::Panicked(_)));
    let e = raw
        .call_async_timeout(encode(&CounterMsg::Get).unwrap(), Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(matches!(e, CallError::NotDelivered(_)), "{e:?}");
}

#[test]
fn a_monitor_channel_is_resolved_by_its_sender() {
    let (down, monitor) = Monitor::channel();
    down.send(ExitReason::NoConnection("b".into()));
    let reason = monitor.wait(Duration::from_secs(1)).unwrap();
    assert_eq!(reason, ExitReason::NoConnection("b".into()));
    assert_eq!(reason.to_string(), "noconnection: b");
    let (_down, monitor) = Monitor::channel();
    assert_eq!(monitor.wait(Duration::from_millis(10)), None, "unresolved until sent");
}
