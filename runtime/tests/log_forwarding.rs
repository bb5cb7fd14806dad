//! A module's `tracing` events reach the host's subscriber.
//!
//! Its own test binary: it installs a global subscriber.

use counter_api::{CounterMsg, CounterReply};
use relive_runtime::{Instance, ModuleTable};
use relive_test_support::fixtures;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tls_api::{Hazards, TlsMsg, TlsReply};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={value:?} ", field.name()));
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut fields =
            Fields(format!("{} {} ", event.metadata().level(), event.metadata().target()));
        event.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
}

/// The one global subscriber of this test binary, and what it saw.
fn capture() -> &'static Capture {
    static CAPTURE: std::sync::OnceLock<Capture> = std::sync::OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture = Capture::default();
        let subscriber = tracing_subscriber::registry().with(capture.clone());
        tracing::subscriber::set_global_default(subscriber).unwrap();
        capture
    })
}

#[test]
fn module_tracing_events_reach_the_host_subscriber() {
    let capture = capture();

    let code = ModuleTable::new().unwrap();
    code.load("counter", fixtures().path("counter_v1")).unwrap();
    let mut inst = Instance::start_with(&code.current("counter").unwrap(), &0u64).unwrap();
    inst.call::<CounterMsg, CounterReply>(&CounterMsg::Log("hello from the module".into()))
        .unwrap();

    let events = capture.0.lock().unwrap().clone();
    let forwarded = events
        .iter()
        .find(|e| e.contains("hello from the module"))
        .unwrap_or_else(|| panic!("module event not forwarded; host saw {events:#?}"));
    assert!(forwarded.starts_with("INFO relive::module "), "{forwarded}");
    assert!(forwarded.contains("module_target=counter_v1"), "{forwarded}");
    assert!(forwarded.contains("counter v1 logs"), "{forwarded}");
}

#[test]
fn a_panic_outside_a_handler_is_a_host_log_event_with_its_location() {
    let capture = capture();
    let code = ModuleTable::new().unwrap();
    code.load("tls", fixtures().path("tls_panicky")).unwrap();
    let mut inst = Instance::start_with(&code.current("tls").unwrap(), &0u64).unwrap();
    // A thread of the module's own panics; no export is there to catch it.
    let hazards = Hazards {
        sleeper_ms: Some(1),
        sleeper_panics: Some("the sleeper fell over".into()),
        ..Hazards::default()
    };
    inst.call::<TlsMsg, TlsReply>(&TlsMsg::Run(hazards)).unwrap();

    let deadline = Instant::now() + Duration::from_secs(10);
    let event = loop {
        let events = capture.0.lock().unwrap().clone();
        if let Some(e) = events.into_iter().find(|e| e.contains("the sleeper fell over")) {
            break e;
        }
        assert!(Instant::now() < deadline, "the module thread's panic was not logged");
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(event.starts_with("ERROR relive::module "), "{event}");
    assert!(event.contains("module panicked outside a handler"), "{event}");
    assert!(event.contains("(at test-modules/tls_panicky/src/module.rs:"), "{event}");
    // The thread still unwinds and returns through the library's code after
    // it logged; give it time to end before the library is closed.
    std::thread::sleep(Duration::from_millis(200));
}
