//! issue 15: the event stream — every action of the code server, the host's
//! upgrades and the supervisors, as typed [`Event`]s on one bounded stream
//! per host (`host.events()`).
//!
//! # Guarantees
//! - Emitting never blocks on a subscriber: the stream is a ring of the last
//!   `capacity` events (default [`DEFAULT_EVENT_CAPACITY`]); a subscriber
//!   that falls further behind is told how many it missed
//!   ([`Lagged`]) and goes on from the oldest event still kept.
//! - Every subscriber sees the events emitted after it subscribed, in
//!   emission order (one sequence number per host, [`Event::seq`]).
//! - Events are emitted after the change they report took effect (a
//!   `Loaded` after the slots changed, an `Unloaded` after the library was
//!   unmapped). The code server's events are emitted while it still holds
//!   its lock, so their order is the order of the changes (a concurrent
//!   load and rollback never show up swapped); emitting takes only the
//!   ring's own lock, innermost, and never calls back.
//!
//! Not promised: an event of a host dropped meanwhile; events from before
//! the subscription (read [`ModuleTable::history`](super::ModuleTable::history)
//! for those) — except, since issue 16, the ones the ring still keeps, for a
//! subscription made with [`ModuleTable::events_from`](super::ModuleTable::events_from)
//! (an observer that attaches late replays them).
//!
//! The ring is a mutex-guarded `VecDeque` with a condition variable for
//! blocking receivers and a waker list for async ones: events are rare
//! (loads, upgrades, crashes), so a lock per emission costs nothing that
//! matters, and it keeps `recv_timeout` exact.

use super::history::Action;
use super::unload::Residency;
use super::version::BuildHash;
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime};

/// Events a host keeps for lagging subscribers unless configured otherwise.
pub const DEFAULT_EVENT_CAPACITY: usize = 1024;

/// One thing that happened, with when and its place in the host's order.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Its number: one more than the previous event of this host.
    pub seq: u64,
    /// When it was emitted.
    pub at: SystemTime,
    /// What happened.
    pub kind: EventKind,
}

/// What happened. Actor ids are [`ActorId::get`](crate::ActorId::get)
/// numbers (this layer is below the actors').
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum EventKind {
    /// The first version of a module was loaded.
    Loaded {
        /// The module.
        module: String,
        /// Its version.
        version: semver::Version,
        /// Its build.
        hash: BuildHash,
    },
    /// A new version of a module became current (the previous one is `old`).
    Upgraded {
        /// The module.
        module: String,
        /// The version current before.
        from: semver::Version,
        /// The version current now.
        to: semver::Version,
        /// The new build.
        hash: BuildHash,
    },
    /// Actors of a module moved to a version (an upgrade's migration, a
    /// gradual upgrade's canaries or promotion).
    Migrated {
        /// The module.
        module: String,
        /// The version they run now.
        to: semver::Version,
        /// The actors that moved.
        actors: Vec<u64>,
    },
    /// `old` became current again.
    RolledBack {
        /// The module.
        module: String,
        /// The version that was current (now `old`).
        from: semver::Version,
        /// The version current again.
        to: semver::Version,
    },
    /// `old` was dropped from the code server.
    Purged {
        /// The module.
        module: String,
        /// The version dropped.
        version: semver::Version,
        /// Instances that still ran it (they were stopped, or keep it until they end).
        instances: usize,
    },
    /// A version's library was unmapped (after its `on_free`).
    Unloaded {
        /// The module.
        module: String,
        /// The version.
        version: String,
    },
    /// A version nothing holds stays mapped, for this reason.
    Resident {
        /// The module.
        module: String,
        /// The version.
        version: String,
        /// Why.
        reason: Residency,
    },
    /// A build was marked bad (loading it again is refused unless forced).
    MarkedBad {
        /// The module.
        module: String,
        /// The build.
        hash: BuildHash,
    },
    /// The code server refused something (a load, an upgrade, an `on_load`
    /// veto, a migration that failed); nothing changed.
    Refused {
        /// The module.
        module: String,
        /// What was attempted.
        action: Action,
        /// The version it would have led to, when known.
        to: Option<String>,
        /// Why (the error's text).
        reason: String,
    },
    /// A supervisor's child exited abnormally or unexpectedly.
    Crashed {
        /// The supervisor's actor.
        supervisor: u64,
        /// The child's id in its spec.
        child: String,
        /// The actor that exited.
        actor: u64,
        /// The exit reason's text.
        reason: String,
    },
    /// A supervisor started a child again.
    Restarted {
        /// The supervisor's actor.
        supervisor: u64,
        /// The child's id in its spec.
        child: String,
        /// The actor running it now.
        actor: u64,
    },
    /// A supervisor gave up (restart intensity exceeded) and exits with
    /// `shutdown`; its parent sees that as a child exit.
    Escalated {
        /// The supervisor's actor.
        supervisor: u64,
        /// The child whose restart was one too many.
        child: String,
        /// Why it gave up.
        reason: String,
    },
    // issue 17: typed configuration, hot-reloaded
    /// A configuration file's content was applied: every reader sees it now
    /// (also when a refused file became good again unchanged: the revision
    /// is then the one already in force).
    ConfigApplied {
        /// The file.
        path: String,
        /// The configuration's revision (1: the first).
        revision: u64,
    },
    /// A configuration file was refused (unparsable, invalid, unreadable,
    /// deleted); the previous configuration stays in force.
    ConfigRefused {
        /// The file.
        path: String,
        /// Why (the error and its causes).
        reason: String,
    },
}

impl EventKind {
    /// The module the event is about, if any (supervisor events name
    /// children, not modules).
    pub fn module(&self) -> Option<&str> {
        match self {
            EventKind::Loaded { module, .. }
            | EventKind::Upgraded { module, .. }
            | EventKind::Migrated { module, .. }
            | EventKind::RolledBack { module, .. }
            | EventKind::Purged { module, .. }
            | EventKind::Unloaded { module, .. }
            | EventKind::Resident { module, .. }
            | EventKind::MarkedBad { module, .. }
            | EventKind::Refused { module, .. } => Some(module),
            EventKind::Crashed { .. }
            | EventKind::Restarted { .. }
            | EventKind::Escalated { .. }
            | EventKind::ConfigApplied { .. }
            | EventKind::ConfigRefused { .. } => None,
        }
    }

    /// Whether a supervisor emits this kind (through
    /// [`HostHandle::emit_supervisor_event`](crate::HostHandle::emit_supervisor_event)).
    pub fn is_supervisor_event(&self) -> bool {
        matches!(
            self,
            EventKind::Crashed { .. } | EventKind::Restarted { .. } | EventKind::Escalated { .. }
        )
    }
}

/// A subscriber fell behind and missed this many events: the next one it
/// receives is the oldest the host still keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the subscriber fell behind and missed {0} events")]
pub struct Lagged(pub u64);

#[derive(Debug)]
struct Ring {
    events: VecDeque<Arc<Event>>,
    /// The `seq` of `events[0]` (or of the next event, when empty).
    first: u64,
    capacity: usize,
    closed: bool,
    wakers: Vec<Waker>,
}

/// A host's stream (crate-internal: the code server owns it; the host and
/// its supervisors emit through it).
#[derive(Debug)]
pub(crate) struct EventBus {
    ring: Mutex<Ring>,
    arrived: Condvar,
}

impl EventBus {
    pub(crate) fn new(capacity: usize) -> Arc<Self> {
        Arc::new(EventBus {
            ring: Mutex::new(Ring {
                events: VecDeque::with_capacity(capacity.min(64)),
                first: 1,
                capacity: capacity.max(1),
                closed: false,
                wakers: Vec::new(),
            }),
            arrived: Condvar::new(),
        })
    }

    /// Append `kind`; never waits for a subscriber.
    pub(crate) fn emit(&self, kind: EventKind) {
        let wakers = {
            let mut ring = self.ring.lock();
            if ring.closed {
                return;
            }
            let seq = ring.first + ring.events.len() as u64;
            ring.events.push_back(Arc::new(Event { seq, at: SystemTime::now(), kind }));
            if ring.events.len() > ring.capacity {
                ring.events.pop_front();
                ring.first += 1;
            }
            std::mem::take(&mut ring.wakers)
        };
        self.arrived.notify_all();
        for w in wakers {
            w.wake();
        }
    }

    /// No more events: blocked and later receivers get the rest, then `None`.
    pub(crate) fn close(&self) {
        let wakers = {
            let mut ring = self.ring.lock();
            ring.closed = true;
            std::mem::take(&mut ring.wakers)
        };
        self.arrived.notify_all();
        for w in wakers {
            w.wake();
        }
    }

    /// A subscription that starts after the last event emitted so far.
    pub(crate) fn subscribe(self: &Arc<Self>) -> Events {
        let ring = self.ring.lock();
        let next = ring.first + ring.events.len() as u64;
        Events { bus: Arc::clone(self), next }
    }

    // issue 16: observer
    /// A subscription that starts at event `seq`: the events still kept
    /// from `seq` on first (a [`Lagged`] first when some of them are gone),
    /// then everything emitted later. A `seq` past the last event emitted
    /// starts after it, as [`subscribe`](Self::subscribe) does.
    pub(crate) fn subscribe_from(self: &Arc<Self>, seq: u64) -> Events {
        let ring = self.ring.lock();
        let end = ring.first + ring.events.len() as u64;
        Events { bus: Arc::clone(self), next: seq.min(end) }
    }
}

/// A subscription to a host's events (`host.events()`): a blocking
/// iterator ([`recv`](Self::recv), [`recv_timeout`](Self::recv_timeout),
/// [`try_recv`](Self::try_recv), `for e in events`) and an async stream
/// ([`next`](Self::next), [`poll_next`](Self::poll_next)). Each item is an
/// [`Event`] or, for a subscriber that fell behind the host's bounded
/// buffer, [`Lagged`] with the number missed. The stream ends (`None`) when
/// the host's code server is dropped.
///
/// ```
/// use relive_runtime::{Host, code_server::EventKind};
/// # use relive_sdk::{Context, Module, ModuleError};
/// # use serde::{Deserialize, Serialize};
/// # use postcard_schema::Schema;
/// # #[derive(Serialize, Deserialize, Schema)] pub struct Echo;
/// # impl Module for Echo {
/// #     const NAME: &'static str = "echo";
/// #     type Args = (); type Msg = u8; type Reply = u8;
/// #     fn init((): (), _: &mut Context<'_>) -> Result<Self, ModuleError> { Ok(Echo) }
/// #     fn handle(&mut self, m: u8, _: &mut Context<'_>) -> u8 { m }
/// # }
/// let host = Host::new()?;
/// let mut events = host.events();
/// host.code_server().load("echo", relive_sdk::declaration!(Echo, version = "1.0.0"))?;
/// let e = events.recv_timeout(std::time::Duration::from_secs(5)).unwrap()?;
/// assert!(matches!(e.kind, EventKind::Loaded { ref module, .. } if module == "echo"));
/// // The same subscription is an async stream: `while let Some(e) = events.next().await`.
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Events {
    bus: Arc<EventBus>,
    /// The `seq` of the next event this subscriber reads.
    next: u64,
}

impl Events {
    // issue 16: observer
    /// The `seq` of the next event this subscriber reads (one past the last
    /// it read or was told it missed).
    pub fn position(&self) -> u64 {
        self.next
    }

    /// The next item if one is there now; `None` when there is none (yet,
    /// or ever: see [`is_closed`](Self::is_closed)).
    pub fn try_recv(&mut self) -> Option<Result<Event, Lagged>> {
        let ring = self.bus.ring.lock();
        take(&mut self.next, &ring)
    }

    /// The next item, waiting for it as long as it takes; `None` once the
    /// host's code server is gone and every event was read.
    pub fn recv(&mut self) -> Option<Result<Event, Lagged>> {
        let mut ring = self.bus.ring.lock();
        loop {
            if let Some(item) = take(&mut self.next, &ring) {
                return Some(item);
            }
            if ring.closed {
                return None;
            }
            self.bus.arrived.wait(&mut ring);
        }
    }

    /// The next item, waiting at most `timeout`; `None` when none came (or
    /// the stream ended).
    pub fn recv_timeout(&mut self, timeout: Duration) -> Option<Result<Event, Lagged>> {
        let deadline = Instant::now() + timeout;
        let mut ring = self.bus.ring.lock();
        loop {
            if let Some(item) = take(&mut self.next, &ring) {
                return Some(item);
            }
            if ring.closed || self.bus.arrived.wait_until(&mut ring, deadline).timed_out() {
                return take(&mut self.next, &ring);
            }
        }
    }

    /// The async form of [`recv`](Self::recv) (a `Stream`'s `poll_next`):
    /// `Ready(None)` when the stream ended.
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Event, Lagged>>> {
        let mut ring = self.bus.ring.lock();
        if let Some(item) = take(&mut self.next, &ring) {
            return Poll::Ready(Some(item));
        }
        if ring.closed {
            return Poll::Ready(None);
        }
        if !ring.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            ring.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// The next item, awaited (any executor: no runtime is needed).
    pub async fn next(&mut self) -> Option<Result<Event, Lagged>> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    /// Whether the stream ended (the host's code server is gone).
    pub fn is_closed(&self) -> bool {
        self.bus.ring.lock().closed
    }
}

/// The item at `*next` in `ring`, moving `*next` past it.
fn take(next: &mut u64, ring: &Ring) -> Option<Result<Event, Lagged>> {
    if *next < ring.first {
        let missed = ring.first - *next;
        *next = ring.first;
        return Some(Err(Lagged(missed)));
    }
    let i = usize::try_from(*next - ring.first).ok()?;
    let e = ring.events.get(i)?;
    *next += 1;
    Some(Ok(Event::clone(e)))
}

impl Iterator for Events {
    type Item = Result<Event, Lagged>;

    /// As [`recv`](Events::recv): blocks until an event comes or the stream ends.
    fn next(&mut self) -> Option<Self::Item> {
        self.recv()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked(n: usize) -> EventKind {
        EventKind::Unloaded { module: "m".into(), version: n.to_string() }
    }

    #[test]
    fn a_subscriber_sees_what_came_after_it_in_order() {
        let bus = EventBus::new(8);
        bus.emit(marked(0));
        let mut s = bus.subscribe();
        bus.emit(marked(1));
        bus.emit(marked(2));
        assert_eq!(s.try_recv().unwrap().unwrap().kind, marked(1));
        assert_eq!(s.try_recv().unwrap().unwrap().kind, marked(2));
        assert!(s.try_recv().is_none());
        assert!(s.recv_timeout(Duration::from_millis(10)).is_none());
    }

    #[test]
    fn a_lagging_subscriber_is_told_how_many_it_missed_and_the_emitter_never_waits() {
        let bus = EventBus::new(4);
        let mut s = bus.subscribe();
        for n in 0..10 {
            bus.emit(marked(n));
        }
        assert_eq!(s.recv().unwrap(), Err(Lagged(6)));
        let rest: Vec<_> = (0..4).map(|_| s.recv().unwrap().unwrap().kind).collect();
        assert_eq!(rest, (6..10).map(marked).collect::<Vec<_>>());
    }

    #[test]
    fn a_blocked_receiver_wakes_for_an_event_and_ends_when_the_bus_closes() {
        let bus = EventBus::new(4);
        let mut s = bus.subscribe();
        let b = Arc::clone(&bus);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            b.emit(marked(1));
            std::thread::sleep(Duration::from_millis(20));
            b.close();
        });
        assert_eq!(s.recv().unwrap().unwrap().kind, marked(1));
        assert!(s.recv().is_none());
        assert!(s.is_closed());
        t.join().unwrap();
    }
}
