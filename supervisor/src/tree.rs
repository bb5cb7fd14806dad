//! A supervisor's state machine on a host: its children, in start order,
//! and what it does when one exits.
//!
//! A supervisor is a host-native actor (`Shell`) that traps exits and is
//! linked to each of its children. Its state (the children, the intensity
//! window, the probation windows) is shared between that actor — which
//! reacts to child exits and to its own retries — and the
//! [`Supervisor`](crate::Supervisor) handle, whose dynamic API runs on the
//! caller's thread.
//!
//! - Start is synchronous and in order; if a child fails to start, those
//!   already started are stopped in reverse order and the start fails.
//! - A child that exits is restarted or not by its restart type; the
//!   strategy decides which others stop (reverse start order) and restart
//!   (start order). A module child restarts **in place**: same id, same
//!   mailbox, so references to it keep working.
//! - A restart that fails leaves the child `restarting` and the supervisor
//!   sends itself a retry (OTP's `try_again_restart` cast): other requests
//!   are served in between, and each attempt counts against the intensity.
//!   In a group restart (`one_for_all`, `rest_for_one`) the first child that
//!   fails to start is the one retried, as if it had crashed: the group is
//!   stopped and started again.
//! - More restarts than the intensity allows: the supervisor stops every
//!   child (reverse order) and exits with `shutdown`; its parent sees that
//!   as a child exit (escalation).
//!
//! Children are kept in a map ordered by a start key, with indexes by id
//! and by actor, so that finding one is `O(log n)` (OTP's
//! `scale_start_stop_many_children`).

use crate::child::{Child, ChildStart};
use crate::probation::{Upgrades, Window};
use crate::report::{CrashLoopRollback, Event, report};
use crate::{Exit, Flags, Intensity, Restart, Shutdown, Strategy};
use parking_lot::Mutex;
use relive_runtime::{
    ActorId, ActorRef, AnyActor, ExitReason, HostHandle, NativeActor, NativeContext, SpawnError,
    SpawnOptions,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The supervisor's message to itself: retry the restart of the child with
/// this key (OTP's `{try_again_restart, Id}` cast).
pub(crate) type Retry = u64;

#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) child: Child,
    pub(crate) actor: Option<AnyActor>,
    /// A restart of it failed and a retry is pending (OTP's `restarting`).
    pub(crate) restarting: bool,
    /// The supervisor stopped it (terminate_child, a group restart, its
    /// own stop) and has not started it since: an exit signal from it that
    /// was already on its way when it was unlinked is no crash.
    pub(crate) stopped: bool,
    /// Whether it was ever started.
    pub(crate) started: bool,
    /// Times this child was started again after its first start.
    pub(crate) restarts: u32,
}

impl Slot {
    pub(crate) fn new(child: Child) -> Self {
        Slot { child, actor: None, restarting: false, stopped: false, started: false, restarts: 0 }
    }

    pub(crate) fn running(&self) -> bool {
        self.actor.as_ref().is_some_and(|a| !a.is_exited())
    }
}

pub(crate) struct Tree {
    pub(crate) host: HostHandle,
    pub(crate) flags: Flags,
    pub(crate) intensity: Intensity,
    /// The children by start key: iteration is start order.
    pub(crate) children: BTreeMap<u64, Slot>,
    by_id: HashMap<String, u64>,
    by_actor: HashMap<ActorId, u64>,
    next_key: u64,
    pub(crate) me: Option<AnyActor>,
    retry: Option<ActorRef<Retry, ()>>,
    pub(crate) exited: bool,
    pub(crate) next_dynamic: u64,
    pub(crate) probation: HashMap<String, Window>,
    /// Which modules were upgraded when, from the host's event stream.
    upgrades: Upgrades,
    pub(crate) rollbacks: Vec<CrashLoopRollback>,
    /// A `simple_one_for_one`'s one spec, from which its children start.
    pub(crate) template: Option<Child>,
}

/// A module child's spawn: under its name, linked to the supervisor as it
/// starts (so it cannot exit before the supervisor hears of it).
fn options(name: &Option<String>, me: Option<&AnyActor>) -> SpawnOptions {
    let mut opts = SpawnOptions::new();
    if let Some(n) = name {
        opts = opts.name(n.clone());
    }
    if let Some(me) = me {
        opts = opts.link(me);
    }
    opts
}

/// How the restart rules see an exit reason. A reason that reached the
/// child through a link (it did not trap exits) counts as that reason:
/// OTP's child would have exited with it.
pub(crate) fn classify(reason: &ExitReason) -> Exit {
    match reason {
        ExitReason::Normal => Exit::Normal,
        ExitReason::Shutdown | ExitReason::ShutdownWith(_) => Exit::Shutdown,
        ExitReason::Linked { reason, .. } => classify(reason),
        _ => Exit::Abnormal,
    }
}

impl Tree {
    pub(crate) fn new(host: &HostHandle, flags: Flags, children: Vec<Child>) -> Self {
        let mut t = Tree {
            host: host.clone(),
            flags,
            intensity: Intensity::new(flags.intensity, flags.period),
            children: BTreeMap::new(),
            by_id: HashMap::new(),
            by_actor: HashMap::new(),
            next_key: 0,
            me: None,
            retry: None,
            exited: false,
            next_dynamic: 0,
            probation: HashMap::new(),
            upgrades: Upgrades::new(host),
            rollbacks: Vec::new(),
            template: None,
        };
        if flags.strategy == Strategy::SimpleOneForOne {
            t.template = children.into_iter().next();
        } else {
            for c in children {
                t.insert(c);
            }
        }
        t
    }

    /// Set the supervisor's own actor (links, retries).
    pub(crate) fn set_me(&mut self, me: &AnyActor) {
        self.retry = me.typed().ok();
        self.me = Some(me.clone());
    }

    /// Add a child after the others; its key.
    pub(crate) fn insert(&mut self, child: Child) -> u64 {
        let key = self.next_key;
        self.next_key += 1;
        self.by_id.insert(child.spec.id.clone(), key);
        self.children.insert(key, Slot::new(child));
        key
    }

    /// Remove a child's spec.
    pub(crate) fn remove(&mut self, key: u64) -> Option<Slot> {
        let slot = self.children.remove(&key)?;
        self.by_id.remove(&slot.child.spec.id);
        if let Some(a) = &slot.actor {
            self.by_actor.remove(&a.id());
        }
        Some(slot)
    }

    pub(crate) fn key_of(&self, id: &str) -> Option<u64> {
        self.by_id.get(id).copied()
    }

    pub(crate) fn key_of_actor(&self, actor: ActorId) -> Option<u64> {
        self.by_actor.get(&actor).copied()
    }

    pub(crate) fn slot(&self, key: u64) -> &Slot {
        &self.children[&key]
    }

    fn slot_mut(&mut self, key: u64) -> &mut Slot {
        self.children.get_mut(&key).expect("a child of this tree")
    }

    fn set_actor(&mut self, key: u64, actor: Option<AnyActor>) {
        let slot = self.children.get_mut(&key).expect("a child of this tree");
        if let Some(old) = slot.actor.take() {
            self.by_actor.remove(&old.id());
        }
        if let Some(a) = &actor {
            self.by_actor.insert(a.id(), key);
        }
        slot.actor = actor;
    }

    /// Start (or restart) a child. `Ok(None)`: its start returned `ignore`
    /// (OTP's `{ok, undefined}`): it is not running, and that is no failure.
    pub(crate) fn start_slot(&mut self, key: u64) -> Result<Option<AnyActor>, SpawnError> {
        let slot = self.slot_mut(key);
        if slot.started {
            slot.restarts += 1;
        }
        slot.started = true;
        slot.restarting = false;
        slot.stopped = false;
        let start = slot.child.start.clone();
        let old = slot.actor.clone();
        let spawned = match (&start, old) {
            // A module child that ran before restarts in place, linked before
            // it can run: it may crash on its first message.
            (ChildStart::Module { module, args, args_schema, name }, Some(old))
                if old.is_exited() =>
            {
                let link = self.me.as_ref();
                match self.host.respawn_linked(&old, args, *args_schema, link, name.as_deref()) {
                    Ok(()) => return Ok(Some(old)),
                    // Killed with a handler still running: it cannot restart
                    // in place until that returns, so it starts anew.
                    Err(SpawnError::Busy(_)) => self.host.spawn_encoded(
                        module,
                        args,
                        *args_schema,
                        options(name, self.me.as_ref()),
                    ),
                    // The reference is kept: a later restart is in place.
                    Err(SpawnError::Ignored) => return Ok(None),
                    Err(e) => return Err(e),
                }
            }
            (ChildStart::Module { module, args, args_schema, name }, _) => {
                self.host.spawn_encoded(module, args, *args_schema, options(name, self.me.as_ref()))
            }
            (ChildStart::Native(f), _) => f(&self.host),
            (ChildStart::Template(f), _) => f(&self.host, &[]),
        };
        let actor = match spawned {
            Ok(actor) => actor,
            Err(SpawnError::Ignored) => {
                if !matches!(start, ChildStart::Module { .. }) {
                    self.set_actor(key, None);
                }
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        if let Some(me) = &self.me {
            self.host.link_any(me, &actor);
        }
        self.set_actor(key, Some(actor.clone()));
        Ok(Some(actor))
    }

    // issue 20: supervisors adopt
    /// Take a running `actor` as a new child (after the others) without
    /// restarting it: recorded as started once, then linked. If it exits
    /// before the link, the link sends this supervisor a `noproc` exit from
    /// it, handled (once this lock is released) as any crash of a child:
    /// by the spec's restart type.
    pub(crate) fn adopt(&mut self, child: Child, actor: &AnyActor) -> u64 {
        let key = self.insert(child);
        self.slot_mut(key).started = true;
        self.set_actor(key, Some(actor.clone()));
        if let Some(me) = &self.me {
            self.host.link_any(me, actor);
        }
        key
    }

    /// Stop a child by its shutdown, unlinked first (its exit is no crash).
    /// Its shutdown timeout counts from `started` (all of a
    /// `simple_one_for_one`'s children under one timer).
    fn stop_slot_by(&mut self, key: u64, started: Instant) {
        let slot = self.slot_mut(key);
        slot.restarting = false;
        slot.stopped = true;
        let Some(actor) = slot.actor.clone() else { return };
        let shutdown = slot.child.spec.shutdown;
        let module = matches!(slot.child.start, ChildStart::Module { .. });
        if let Some(me) = &self.me {
            self.host.unlink_any(me, &actor);
        }
        // An actor that exited meanwhile (NoProc) is stopped already.
        let _ = match shutdown {
            Shutdown::BrutalKill => self.host.terminate(&actor, ExitReason::Killed),
            Shutdown::Timeout(t) => {
                let left = (started + t).saturating_duration_since(Instant::now());
                self.host.terminate_within(&actor, ExitReason::Shutdown, left)
            }
            Shutdown::Infinity => self.host.terminate(&actor, ExitReason::Shutdown),
        };
        // Keep the reference: a module child restarts in place.
        if !module {
            self.set_actor(key, None);
        }
    }

    pub(crate) fn stop_slot(&mut self, key: u64) {
        self.stop_slot_by(key, Instant::now());
    }

    pub(crate) fn running(&self, key: u64) -> bool {
        self.children.get(&key).is_some_and(Slot::running)
    }

    /// Stop every child: in reverse start order, each under its own
    /// shutdown; for `simple_one_for_one` all are asked at once and waited
    /// for under one timer (OTP's `terminate_dynamic_children`).
    pub(crate) fn stop_all(&mut self) {
        let keys: Vec<u64> = self.children.keys().rev().copied().collect();
        if self.flags.strategy == Strategy::SimpleOneForOne {
            for &k in &keys {
                let slot = &self.children[&k];
                if let (Some(a), Shutdown::Timeout(_)) = (&slot.actor, slot.child.spec.shutdown) {
                    if let Some(me) = &self.me {
                        self.host.unlink_any(me, a);
                    }
                    let _ = self.host.stop_any(a, ExitReason::Shutdown);
                }
            }
        }
        let started = Instant::now();
        for k in keys {
            self.stop_slot_by(k, started);
        }
    }

    fn child_exited(&mut self, from: ActorId, reason: &ExitReason, ctx: &mut NativeContext<'_>) {
        let mut events = Vec::new();
        self.handle_exit(from, reason, ctx, &mut events);
        // Reports are formatted only now, after recovery.
        report(events);
    }

    fn handle_exit(
        &mut self,
        from: ActorId,
        reason: &ExitReason,
        ctx: &mut NativeContext<'_>,
        events: &mut Vec<Event>,
    ) {
        if self.exited {
            return;
        }
        let Some(key) = self.key_of_actor(from) else { return };
        // A stale exit: the child was stopped and restarted in place since,
        // or stopped by this supervisor (the signal left before the unlink).
        if self.running(key) || self.slot(key).stopped {
            return;
        }
        let spec = self.slot(key).child.spec.clone();
        let exit = classify(reason);
        self.note(
            events,
            Event::Crash { child: spec.id.clone(), actor: from, reason: reason.clone() },
        );
        if !spec.restart.should_restart(exit) {
            // A simple_one_for_one child that is not restarted goes.
            if spec.restart == Restart::Temporary || self.template.is_some() {
                self.remove(key);
            } else if !matches!(self.slot(key).child.start, ChildStart::Module { .. }) {
                self.set_actor(key, None);
            }
            return;
        }
        self.restart(key, exit == Exit::Abnormal, ctx, events);
    }

    /// A retry the supervisor sent itself: restart the child again if it is
    /// still `restarting` (terminated meanwhile: nothing to do).
    fn try_again(&mut self, key: u64, ctx: &mut NativeContext<'_>) {
        if self.exited || !self.children.get(&key).is_some_and(|s| s.restarting) {
            return;
        }
        let mut events = Vec::new();
        self.restart(key, true, ctx, &mut events);
        report(events);
    }

    /// Count a restart of `key` (probation or intensity), then restart it
    /// and the others its strategy says. A start that fails leaves that
    /// child `restarting` and sends the supervisor a retry.
    fn restart(
        &mut self,
        key: u64,
        abnormal: bool,
        ctx: &mut NativeContext<'_>,
        events: &mut Vec<Event>,
    ) {
        if self.gives_up(key, abnormal, events) {
            self.exited = true;
            self.stop_all();
            ctx.stop_self(ExitReason::Shutdown);
            return;
        }
        let group: Vec<u64> = match self.flags.strategy {
            Strategy::OneForOne | Strategy::SimpleOneForOne => vec![key],
            Strategy::OneForAll => self.children.keys().copied().collect(),
            Strategy::RestForOne => self.children.range(key..).map(|(k, _)| *k).collect(),
        };
        // The others stop in reverse start order; temporary ones are not
        // restarted by a sibling's exit, so their specs go.
        for &k in group.iter().rev() {
            if k == key {
                continue;
            }
            if self.running(k) {
                self.stop_slot(k);
            }
            if self.slot(k).child.spec.restart == Restart::Temporary {
                self.remove(k);
            }
        }
        for k in group {
            if !self.children.contains_key(&k) {
                continue;
            }
            let child = self.slot(k).child.spec.id.clone();
            match self.start_slot(k) {
                Ok(Some(actor)) => self.note(events, Event::Restarted { child, actor: actor.id() }),
                Ok(None) => {
                    events.push(Event::Ignored { child });
                    if self.template.is_some() {
                        self.remove(k);
                    }
                }
                Err(error) => {
                    events.push(Event::RestartFailed { child, error });
                    self.slot_mut(k).restarting = true;
                    if let Some(me) = &self.retry
                        && me.cast(k).is_err()
                    {
                        // The supervisor is exiting: nothing to retry.
                        self.slot_mut(k).restarting = false;
                    }
                    // The children after it stay down until the retry.
                    return;
                }
            }
        }
    }

    /// Count a restart of `key`: against the probation policy when one of
    /// its modules is on probation after an upgrade (a bad upgrade is rolled
    /// back before ordinary escalation can take the tree down), otherwise
    /// against the intensity. True when the supervisor must give up.
    fn gives_up(&mut self, key: u64, abnormal: bool, events: &mut Vec<Event>) -> bool {
        let spec = self.slot(key).child.spec.clone();
        if abnormal && let Some(policy) = self.flags.probation {
            for m in &spec.modules {
                if self.upgrades.on_probation(&self.host, m, &policy) {
                    let window = self.probation.entry(m.clone()).or_default();
                    if window.crash(&policy, Instant::now()) {
                        let crashes = policy.max_crashes as usize + 1;
                        self.probation.remove(m);
                        self.crash_loop_rollback(m, crashes, policy.within, events);
                    }
                    return false;
                }
            }
        }
        match self.intensity.add_restart(Instant::now()) {
            Ok(()) => false,
            Err(why) => {
                self.note(events, Event::GiveUp { child: spec.id, why });
                true
            }
        }
    }

    /// Emit `e` on the host's event stream now (issue 15), and keep it for
    /// the report after recovery.
    fn note(&self, events: &mut Vec<Event>, e: Event) {
        e.emit(&self.host, self.me.as_ref().map(AnyActor::id));
        events.push(e);
    }

    /// Roll `module` back on the host, mark the crash-looping build bad and
    /// drop it; the caller then restarts the crashed child on the old version.
    fn crash_loop_rollback(
        &mut self,
        module: &str,
        crashes: usize,
        within: Duration,
        events: &mut Vec<Event>,
    ) {
        let code = self.host.code_server();
        let Some(bad) = code.current(module) else { return };
        let hash = bad.hash();
        drop(bad);
        // issue 15: forced — a crash-looping version serves nobody; callers of a
        // variant only it had get typed refusals (`UnknownVariant`) instead.
        match code.rollback_with(module, true) {
            Ok(rollback) => {
                // A mark that could not be saved still holds in memory; the
                // code server has logged it.
                let _ = code.mark_bad(module, hash);
                let _ = code.purge(module);
                let report = CrashLoopRollback { crashes, within, rollback };
                self.rollbacks.push(report.clone());
                events.push(Event::Rollback(report));
            }
            Err(error) => events.push(Event::RollbackFailed { module: module.to_owned(), error }),
        }
    }
}

/// The supervisor's actor: traps its children's exits, and takes the
/// retries it sends itself.
pub(crate) struct Shell(pub(crate) Arc<Mutex<Tree>>);

impl NativeActor for Shell {
    type Msg = Retry;
    type Reply = ();

    fn handle(&mut self, key: Retry, ctx: &mut NativeContext<'_>) {
        self.0.lock().try_again(key, ctx);
    }

    fn trap_exit(&self) -> bool {
        true
    }

    fn on_exit(&mut self, from: ActorId, reason: &ExitReason, ctx: &mut NativeContext<'_>) {
        self.0.lock().child_exited(from, reason, ctx);
    }

    fn on_stop(&mut self, _reason: &ExitReason, _host: &HostHandle) {
        let mut tree = self.0.lock();
        tree.exited = true;
        tree.stop_all();
    }
}
