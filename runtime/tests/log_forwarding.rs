//! A module's `tracing` events reach the host's subscriber.
//!
//! Its own test binary: it installs a global subscriber.

use counter_api::{CounterMsg, CounterReply};
use relive_runtime::{Instance, ModuleTable};
use relive_test_support::fixtures;
use std::sync::{Arc, Mutex};
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

#[test]
fn module_tracing_events_reach_the_host_subscriber() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    tracing::subscriber::set_global_default(subscriber).unwrap();

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
