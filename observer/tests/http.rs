//! The observer over plain HTTP, against a host running real counter
//! cdylibs under a supervisor: the token, the loopback bind, the SSE
//! stream, per-actor detail, promote/abort, and the admin-socket source.

mod common;

use common::{Sse, counter_tree, http};
use counter_api::CounterMsg;
use relive_observer::{AdminSocket, Observer, ObserverOptions, ServeError};
use relive_runtime::host::{Canary, UpgradeMode, UpgradeOptions};
use relive_test_support::fixtures;
use std::time::{Duration, Instant};

fn current(snap: &serde_json::Value, module: &str) -> Option<String> {
    snap["status"]["modules"]
        .as_array()?
        .iter()
        .find(|m| m["name"] == module)
        .and_then(|m| m["current"]["version"].as_str())
        .map(str::to_owned)
}

#[test]
fn every_data_and_action_route_wants_the_token() {
    let (host, _sup, _refs) = counter_tree();
    let obs = Observer::serve(&host.handle(), ObserverOptions::default()).unwrap();
    let addr = obs.addr();
    let token = obs.token().to_owned();
    let wrong = "0".repeat(token.len());
    for path in ["/", "/api/snapshot", "/api/events", "/api/actor/1", "/metrics"] {
        assert_eq!(http(addr, "GET", path, &[]).status, 401, "{path} without a token");
        let bad = format!("{path}?token={wrong}");
        assert_eq!(http(addr, "GET", &bad, &[]).status, 401, "{path} with a wrong token");
        let bad = [("X-Relive-Token", wrong.as_str())];
        assert_eq!(http(addr, "GET", path, &bad).status, 401, "{path} with a wrong header");
    }
    for path in ["/api/promote/counter", "/api/abort/counter"] {
        assert_eq!(http(addr, "POST", path, &[]).status, 401, "{path} without a token");
        let bad = format!("{path}?token={wrong}");
        assert_eq!(http(addr, "POST", &bad, &[]).status, 401, "{path} with a wrong token");
    }

    // The right token: the page, and a cookie that lets the page's own reads in.
    let page = http(addr, "GET", &format!("/?token={token}"), &[]);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("relive observer"), "{}", page.body);
    let cookie = page.header("set-cookie").expect("a cookie").to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let cookie = cookie.split(';').next().unwrap().to_owned();
    assert_eq!(http(addr, "GET", "/api/snapshot", &[("Cookie", &cookie)]).status, 200);
    let bearer = format!("Bearer {token}");
    assert_eq!(http(addr, "GET", "/api/snapshot", &[("Authorization", &bearer)]).status, 200);
    // …but never its actions: a cookie is sent by any page linking here.
    let post = http(addr, "POST", "/api/promote/counter", &[("Cookie", &cookie)]);
    assert_eq!(post.status, 401);
    // The host's metrics, in the Prometheus text format.
    let m = http(addr, "GET", &format!("/metrics?token={token}"), &[]);
    assert_eq!(m.status, 200, "{}", m.body);
    assert!(m.body.contains("# TYPE relive_casts_total counter"), "{}", m.body);
    assert!(m.body.lines().any(|l| l.starts_with("relive_actors ")), "{}", m.body);
    // Static assets hold no data.
    assert_eq!(http(addr, "GET", "/assets/observer.js", &[]).status, 200);
}

#[test]
fn it_binds_loopback_only_unless_told_and_wants_a_strong_token() {
    let (host, _sup, _refs) = counter_tree();
    let obs = Observer::serve(&host.handle(), ObserverOptions::default()).unwrap();
    assert!(obs.addr().ip().is_loopback(), "{}", obs.addr());
    assert!(obs.url().starts_with(&format!("http://127.0.0.1:{}/?token=", obs.addr().port())));
    let open = ObserverOptions::default().addr("0.0.0.0".parse().unwrap());
    let e = Observer::serve(&host.handle(), open).unwrap_err();
    assert!(matches!(e, ServeError::NotLoopback(_)), "{e:?}");
    let weak = ObserverOptions::default().token("short");
    assert!(matches!(Observer::serve(&host.handle(), weak), Err(ServeError::WeakToken(5))));
    // The same port twice: a typed bind error with the io error as its source.
    let again = ObserverOptions::default().port(obs.addr().port());
    let e = Observer::serve(&host.handle(), again).unwrap_err();
    assert!(matches!(e, ServeError::Bind { .. }), "{e:?}");
    assert!(std::error::Error::source(&e).is_some());
    // A token of the operator's choosing is encoded in the URL it prints,
    // and that URL's query opens the API.
    let chosen = ObserverOptions::default().token("s3cret+with/odd=chars&more");
    let obs = Observer::serve(&host.handle(), chosen).unwrap();
    let query = obs.url().split_once('?').unwrap().1.to_owned();
    assert_eq!(query, "token=s3cret%2Bwith%2Fodd%3Dchars%26more");
    assert_eq!(http(obs.addr(), "GET", &format!("/api/snapshot?{query}"), &[]).status, 200);
}

#[test]
fn the_stream_pushes_an_upgrade_as_it_happens() {
    let (host, _sup, refs) = counter_tree();
    // Idle snapshots 5 s apart: one within 2.5 s of the upgrade was pushed
    // by its event.
    let every = Duration::from_secs(5);
    let obs =
        Observer::serve(&host.handle(), ObserverOptions::default().idle_refresh(every)).unwrap();
    let (code, sse) = Sse::open(obs.addr(), &format!("/api/events?token={}", obs.token()));
    assert_eq!(code, 200);
    let mut sse = sse.unwrap();
    let mut snap = sse.next_snapshot();
    while snap["status"].is_null() {
        snap = sse.next_snapshot();
    }
    assert_eq!(current(&snap, "counter").as_deref(), Some("1.0.0"));
    assert_eq!(snap["status"]["trees"][0]["children"].as_array().unwrap().len(), 3);

    refs[0].call(CounterMsg::Add(1)).unwrap();
    host.code_server().upgrade("counter", fixtures().path("counter_v2")).unwrap();
    let started = Instant::now();
    loop {
        let s = sse.next_snapshot();
        let upgraded = s["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "upgraded" && e["to"] == "2.0.0");
        if upgraded {
            assert_eq!(current(&s, "counter").as_deref(), Some("2.0.0"));
            let history = s["history"].as_array().unwrap();
            assert!(history.iter().any(|h| h["action"] == "upgrade" && h["to"] == "2.0.0"));
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no upgrade pushed: {s}");
    }
    assert!(started.elapsed() < Duration::from_millis(2500), "{:?}", started.elapsed());
}

#[test]
fn an_actors_detail_has_its_counters_and_state() {
    let (host, _sup, refs) = counter_tree();
    let obs = Observer::serve(&host.handle(), ObserverOptions::default()).unwrap();
    refs[1].call(CounterMsg::Add(5)).unwrap();
    let id = refs[1].id().get();
    let a = http(obs.addr(), "GET", &format!("/api/actor/{id}?token={}", obs.token()), &[]);
    assert_eq!(a.status, 200, "{}", a.body);
    let v = a.json();
    assert_eq!(v["stats"]["Stats"]["mailbox"], 0);
    assert!(v["stats"]["Stats"]["messages_in"].as_u64().unwrap() >= 1, "{v}");
    assert!(v["state"].to_string().contains("25"), "the count 20 + 5 in {v}");
    let none = http(obs.addr(), "GET", &format!("/api/actor/999999?token={}", obs.token()), &[]);
    assert_eq!(none.status, 404);
    assert_eq!(none.json()["error"], "NotFound");
}

#[test]
fn promote_and_abort_act_and_refuse_without_a_gradual_upgrade() {
    let (host, _sup, _refs) = counter_tree();
    let obs = Observer::serve(&host.handle(), ObserverOptions::default()).unwrap();
    let token = obs.token().to_owned();
    let hdr = [("X-Relive-Token", token.as_str())];
    for what in ["promote", "abort"] {
        let r = http(obs.addr(), "POST", &format!("/api/{what}/counter"), &hdr);
        assert_eq!(r.status, 409, "{what}: {}", r.body);
        assert_eq!(r.json()["error"], "Refused");
        let message = r.json()["message"].as_str().unwrap().to_owned();
        assert!(message.contains("no gradual upgrade"), "{message}");
    }
    assert_eq!(host.code_server().current("counter").unwrap().version().to_string(), "1.0.0");

    let gradual = || UpgradeOptions::new().mode(UpgradeMode::Gradual(Canary::Count(1)));
    let v2 = fixtures().path("counter_v2");
    host.code_server().upgrade_with("counter", v2, gradual()).unwrap();
    let r = http(obs.addr(), "POST", "/api/abort/counter", &hdr);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(host.code_server().current("counter").unwrap().version().to_string(), "1.0.0");
    assert!(host.code_server().canaries("counter").is_none());

    host.code_server().upgrade_with("counter", v2, gradual().force(true)).unwrap();
    let r = http(obs.addr(), "POST", &format!("/api/promote/counter?token={token}"), &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["Migration"]["to"], "2.0.0");
    assert_eq!(host.code_server().current("counter").unwrap().version().to_string(), "2.0.0");
    assert_eq!(host.actors_of("counter"), 3);
    let by_build = host.handle().actors_by_build("counter");
    assert_eq!(by_build.values().sum::<usize>(), 3);
    assert_eq!(by_build.len(), 1, "everyone on v2: {by_build:?}");
    let none = http(obs.addr(), "POST", "/api/promote/nosuch", &hdr);
    assert_eq!(none.status, 409, "{}", none.body);
}

#[test]
fn an_admin_socket_source_shows_a_host_in_another_place() {
    let (host, _sup, _refs) = counter_tree();
    let dir = relive_test_support::scratch_dir();
    let socket = dir.path().join("admin").join("admin.sock");
    let _admin = host.handle().serve_admin(&socket).unwrap();
    let obs = Observer::serve(&AdminSocket::new(&socket), ObserverOptions::default()).unwrap();
    let (_, sse) = Sse::open(obs.addr(), &format!("/api/events?token={}", obs.token()));
    let mut sse = sse.unwrap();
    let mut snap = sse.next_snapshot();
    while snap["status"].is_null() {
        snap = sse.next_snapshot();
    }
    assert_eq!(snap["host"], socket.display().to_string());
    assert_eq!(current(&snap, "counter").as_deref(), Some("1.0.0"));
    host.code_server().upgrade("counter", fixtures().path("counter_v2")).unwrap();
    let started = Instant::now();
    while current(&snap, "counter").as_deref() != Some("2.0.0") {
        assert!(started.elapsed() < Duration::from_secs(10), "no upgrade pushed: {snap}");
        snap = sse.next_snapshot();
    }
    // The events came through the socket's long poll too.
    assert!(snap["events"].as_array().unwrap().iter().any(|e| e["kind"] == "upgraded"));
    // And the metrics, through the admin command `Metrics`.
    let m = http(obs.addr(), "GET", &format!("/metrics?token={}", obs.token()), &[]);
    assert_eq!(m.status, 200, "{}", m.body);
    assert!(m.body.contains("relive_upgrades_total{"), "{}", m.body);
}

/// A host from before the `Events` command: it answers `BadRequest`.
#[derive(Clone)]
struct OlderHost(relive_runtime::HostHandle);

impl relive_observer::Source for OlderHost {
    fn request(
        &self,
        command: relive_runtime::admin::protocol::Command,
    ) -> Result<relive_runtime::admin::protocol::Response, relive_observer::SourceError> {
        use relive_runtime::admin::protocol::{Command, ErrorKind, Response};
        match command {
            Command::Events { .. } => Ok(Response::Error {
                kind: ErrorKind::BadRequest,
                message: "garbled request: unknown variant `Events`".into(),
            }),
            other => Ok(self.0.answer_admin(other)),
        }
    }

    fn describe(&self) -> String {
        "an older host".into()
    }
}

#[test]
fn a_host_without_events_still_shows_its_status_and_says_why_nothing_is_live() {
    let (host, _sup, _refs) = counter_tree();
    let obs = Observer::serve(&OlderHost(host.handle()), ObserverOptions::default()).unwrap();
    let (_, sse) = Sse::open(obs.addr(), &format!("/api/events?token={}", obs.token()));
    let mut sse = sse.unwrap();
    let mut snap = sse.next_snapshot();
    while snap["status"].is_null() {
        snap = sse.next_snapshot();
    }
    assert_eq!(current(&snap, "counter").as_deref(), Some("1.0.0"));
    assert!(snap["events"].as_array().unwrap().is_empty());
    let errors = snap["errors"].to_string();
    assert!(errors.contains("events refused") && errors.contains("Events"), "{errors}");
    // The counters still refresh at the idle rate, and an upgrade shows up there.
    host.code_server().upgrade("counter", fixtures().path("counter_v2")).unwrap();
    let started = Instant::now();
    while current(&snap, "counter").as_deref() != Some("2.0.0") {
        assert!(started.elapsed() < Duration::from_secs(10), "{snap}");
        snap = sse.next_snapshot();
    }
}
