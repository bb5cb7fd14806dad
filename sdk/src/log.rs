//! Log forwarding: a module's `tracing` events reach the host's subscriber.
//!
//! Every dynamic library has its own copy of `tracing`'s globals, so an event
//! recorded inside a module would go nowhere. At load, the host asks the SDK
//! (through `install_host` with `FORWARD_LOGS`) to install [`Forward`] as the
//! library's global dispatcher; it formats each event and passes level,
//! target and text to the host's `log` service, which re-emits it in the
//! host's `tracing` under the target `relive::module`.
//!
//! Spans are accepted and ignored: their fields do not cross the boundary.

use crate::abi::{forward_log, log_max_level};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Interest, Level, LevelFilter, Metadata, Subscriber};

/// The subscriber installed inside a module library.
#[derive(Debug)]
pub(crate) struct Forward {
    next_span: AtomicU64,
}

impl Forward {
    pub(crate) fn new() -> Self {
        Forward { next_span: AtomicU64::new(1) }
    }
}

const fn level_number(level: &Level) -> u32 {
    match *level {
        Level::ERROR => 1,
        Level::WARN => 2,
        Level::INFO => 3,
        Level::DEBUG => 4,
        Level::TRACE => 5,
    }
}

fn max_level() -> u32 {
    log_max_level()
}

struct Text(String);

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            if !self.0.is_empty() {
                self.0.insert(0, ' ');
            }
            let mut msg = String::new();
            let _ = write!(msg, "{value:?}");
            self.0.insert_str(0, &msg);
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}

impl Subscriber for Forward {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if self.enabled(meta) { Interest::always() } else { Interest::never() }
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        level_number(meta.level()) <= max_level()
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(match max_level() {
            0 => LevelFilter::OFF,
            1 => LevelFilter::ERROR,
            2 => LevelFilter::WARN,
            3 => LevelFilter::INFO,
            4 => LevelFilter::DEBUG,
            _ => LevelFilter::TRACE,
        })
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        // ORDERING: only uniqueness matters; no other memory is published.
        Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed))
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut text = Text(String::new());
        event.record(&mut text);
        let meta = event.metadata();
        forward_log(level_number(meta.level()), meta.target(), &text.0);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}
