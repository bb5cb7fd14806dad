//! The feed: one thread per observer that follows the host's events
//! (long-polling `Events`, so a change shows up as soon as it happens) and
//! publishes a snapshot of the host after each batch of events, and at
//! most once a second otherwise (for the counters). Every page reads the
//! snapshots pushed to it over SSE; no browser ever polls.

use crate::source::Source;
use relive_runtime::admin::protocol::{Command, EventView, HistoryView, Output, Response};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::watch;

/// Events kept for the page (crashes and the event log).
const RECENT_EVENTS: usize = 200;
/// Samples kept for the rate charts (one a second at most: two minutes).
const SAMPLES: usize = 120;
/// Actors listed in a snapshot (the counts come from the module views).
const LISTED_ACTORS: usize = 500;
/// History entries listed in a snapshot.
const LISTED_HISTORY: usize = 200;
/// How long one `Events` request waits for an event by default: the idle
/// snapshot rate.
pub(crate) const IDLE_WAIT: Duration = Duration::from_millis(1000);
/// The shortest time between two snapshots (a burst of events is one).
const MIN_GAP: Duration = Duration::from_millis(100);

fn now_ms() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// What the feed remembers between snapshots.
struct Memory {
    after: u64,
    events: VecDeque<EventView>,
    samples: VecDeque<Value>,
    crashes: u64,
    missed: u64,
}

/// Publish snapshots of `source` on `tx` until `stop` is set or every
/// receiver is gone.
/// `idle`: how long to wait for an event before a snapshot for the counters.
pub(crate) fn run(
    source: Arc<dyn Source>,
    tx: watch::Sender<Arc<String>>,
    stop: Arc<AtomicBool>,
    idle: Duration,
) {
    let mut mem = Memory {
        after: 1,
        events: VecDeque::new(),
        samples: VecDeque::new(),
        crashes: 0,
        missed: 0,
    };
    let mut first = true;
    // ORDERING: a stop flag; the thread reads it again within `idle`.
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        // The first request replays what the host still keeps, at once.
        let wait = if first { 0 } else { idle.as_millis() as u64 };
        first = false;
        let error = match source.request(Command::Events { after: mem.after, wait_ms: Some(wait) })
        {
            Ok(Response::Done(Output::Events { events, next, missed })) => {
                mem.after = next;
                mem.missed += missed;
                for e in events {
                    if e.kind == "crashed" {
                        mem.crashes += 1;
                    }
                    mem.events.push_back(e);
                    if mem.events.len() > RECENT_EVENTS {
                        mem.events.pop_front();
                    }
                }
                None
            }
            Ok(Response::Error { message, .. }) => Some(format!("events refused: {message}")),
            Ok(other) => Some(format!("unexpected answer to events: {other:?}")),
            Err(e) => Some(error_chain(&e)),
        };
        let snapshot = snapshot(source.as_ref(), &mut mem, error.as_deref());
        if tx.send(Arc::new(snapshot)).is_err() {
            return;
        }
        // An error answers at once: wait as an idle poll would.
        let gap = if error.is_some() { idle } else { MIN_GAP };
        if let Some(rest) = gap.checked_sub(started.elapsed()) {
            std::thread::sleep(rest);
        }
    }
}

/// An error and its causes, as one line.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

/// The snapshot JSON the page renders.
fn snapshot(source: &dyn Source, mem: &mut Memory, error: Option<&str>) -> String {
    let mut errors: Vec<String> = error.into_iter().map(str::to_owned).collect();
    let status = match source.request(Command::Status) {
        Ok(Response::Done(Output::Status { modules, actors, trees, workers, .. })) => {
            let handled: u64 = actors.iter().map(|a| a.handled).sum();
            let mailbox: usize = actors.iter().map(|a| a.mailbox).sum();
            let at = now_ms();
            mem.samples.push_back(json!({
                "at_ms": at, "handled": handled, "crashes": mem.crashes, "mailbox": mailbox,
            }));
            if mem.samples.len() > SAMPLES {
                mem.samples.pop_front();
            }
            let count = actors.len();
            json!({
                "modules": modules,
                "trees": trees,
                "workers": workers,
                "actor_count": count,
                "handled_total": handled,
                "actors": actors.into_iter().take(LISTED_ACTORS).collect::<Vec<_>>(),
            })
        }
        Ok(other) => {
            errors.push(format!("status: {other:?}"));
            Value::Null
        }
        Err(e) => {
            errors.push(error_chain(&e));
            Value::Null
        }
    };
    let history: Vec<HistoryView> = match source.request(Command::History { module: None }) {
        Ok(Response::Done(Output::History { entries })) => {
            let skip = entries.len().saturating_sub(LISTED_HISTORY);
            entries.into_iter().skip(skip).collect()
        }
        Ok(_) | Err(_) => Vec::new(),
    };
    json!({
        "host": source.describe(),
        "at_ms": now_ms(),
        "status": status,
        "history": history,
        "events": mem.events,
        "crashes_total": mem.crashes,
        "events_missed": mem.missed,
        "samples": mem.samples,
        "errors": errors,
    })
    .to_string()
}
