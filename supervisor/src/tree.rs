//! A supervisor's state machine on a host: its children, in start order,
//! and what it does when one exits.
//!
//! A supervisor is a host-native actor (`Shell`) that traps exits and is
//! linked to each of its children. Its state (the children, the intensity
//! window, the probation windows) is shared between that actor — which
//! reacts to child exits — and the [`Supervisor`](crate::Supervisor) handle,
//! whose dynamic API runs on the caller's thread.
//!
//! - Start is synchronous and in order; if a child fails to start, those
//!   already started are stopped in reverse order and the start fails.
//! - A child that exits is restarted or not by its restart type; the
//!   strategy decides which others stop (reverse start order) and restart
//!   (start order). A module child restarts **in place**: same id, same
//!   mailbox, so references to it keep working.
//! - More restarts than the intensity allows: the supervisor stops every
//!   child (reverse order) and exits with `shutdown`; its parent sees that
//!   as a child exit (escalation).

use crate::child::{Child, ChildStart};
use crate::probation::{Window, on_probation};
use crate::report::{CrashLoopRollback, Event, report};
use crate::{Exit, Flags, Intensity, Restart, Shutdown};
use parking_lot::Mutex;
use relive_runtime::{
    ActorId, AnyActor, ExitReason, HostHandle, NativeActor, NativeContext, SpawnError, SpawnOptions,
};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) child: Child,
    pub(crate) actor: Option<AnyActor>,
    /// Whether it was ever started.
    pub(crate) started: bool,
    /// Times this child was started again after its first start.
    pub(crate) restarts: u32,
}

impl Slot {
    pub(crate) fn new(child: Child) -> Self {
        Slot { child, actor: None, started: false, restarts: 0 }
    }
}

pub(crate) struct Tree {
    pub(crate) host: HostHandle,
    pub(crate) flags: Flags,
    pub(crate) intensity: Intensity,
    pub(crate) children: Vec<Slot>,
    pub(crate) me: Option<AnyActor>,
    pub(crate) exited: bool,
    pub(crate) next_dynamic: u64,
    pub(crate) probation: HashMap<String, Window>,
    pub(crate) rollbacks: Vec<CrashLoopRollback>,
    pub(crate) ids: HashSet<String>,
}

fn classify(reason: &ExitReason) -> Exit {
    match reason {
        ExitReason::Normal => Exit::Normal,
        ExitReason::Shutdown => Exit::Shutdown,
        _ => Exit::Abnormal,
    }
}

impl Tree {
    pub(crate) fn new(host: &HostHandle, flags: Flags, children: Vec<Child>) -> Self {
        Tree {
            host: host.clone(),
            flags,
            intensity: Intensity::new(flags.intensity, flags.period),
            ids: children.iter().map(|c| c.spec.id.clone()).collect(),
            children: children.into_iter().map(Slot::new).collect(),
            me: None,
            exited: false,
            next_dynamic: 0,
            probation: HashMap::new(),
            rollbacks: Vec::new(),
        }
    }

    pub(crate) fn start_slot(&mut self, i: usize) -> Result<(), SpawnError> {
        let slot = &mut self.children[i];
        if slot.started {
            slot.restarts += 1;
        }
        slot.started = true;
        let actor = match (&slot.child.start, slot.actor.take()) {
            // A module child that ran before restarts in place, linked before
            // it can run: it may crash on its first message.
            (ChildStart::Module { module, args, args_schema }, Some(old)) if old.is_exited() => {
                match self.host.respawn_linked(&old, args, *args_schema, self.me.as_ref()) {
                    Ok(()) => {
                        self.children[i].actor = Some(old);
                        return Ok(());
                    }
                    // Killed with a handler still running: it cannot restart
                    // in place until that returns, so it starts anew.
                    Err(SpawnError::Busy(_)) => {
                        self.host.spawn_encoded(module, args, *args_schema, SpawnOptions::new())?
                    }
                    Err(e) => return Err(e),
                }
            }
            (ChildStart::Module { module, args, args_schema }, _) => {
                self.host.spawn_encoded(module, args, *args_schema, SpawnOptions::new())?
            }
            (ChildStart::Native(f), _) => f(&self.host)?,
        };
        if let Some(me) = &self.me {
            self.host.link_any(me, &actor);
        }
        self.children[i].actor = Some(actor);
        Ok(())
    }

    pub(crate) fn stop_slot(&mut self, i: usize) {
        let slot = &mut self.children[i];
        let Some(actor) = slot.actor.as_ref() else { return };
        if let Some(me) = &self.me {
            self.host.unlink_any(me, actor);
        }
        let reason = match slot.child.spec.shutdown {
            Shutdown::BrutalKill => ExitReason::Killed,
            Shutdown::Timeout(_) | Shutdown::Infinity => ExitReason::Shutdown,
        };
        self.host.terminate(actor, reason);
        // Keep the reference: a module child restarts in place.
        if !matches!(slot.child.start, ChildStart::Module { .. }) {
            slot.actor = None;
        }
    }

    pub(crate) fn running(&self, i: usize) -> bool {
        self.children[i].actor.as_ref().is_some_and(|a| !a.is_exited())
    }

    pub(crate) fn stop_all(&mut self) {
        for i in (0..self.children.len()).rev() {
            if self.running(i) {
                self.stop_slot(i);
            }
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
        let Some(i) =
            self.children.iter().position(|s| s.actor.as_ref().map(AnyActor::id) == Some(from))
        else {
            return;
        };
        let spec = self.children[i].child.spec.clone();
        let exit = classify(reason);
        events.push(Event::Crash { child: spec.id.clone(), actor: from, reason: reason.clone() });
        if !spec.restart.should_restart(exit) {
            if spec.restart == Restart::Temporary {
                self.ids.remove(&spec.id);
                self.children.remove(i);
            } else if !matches!(self.children[i].child.start, ChildStart::Module { .. }) {
                self.children[i].actor = None;
            }
            return;
        }
        // Crashes of a module on probation count against the probation
        // policy instead of the intensity: a bad upgrade is rolled back
        // before ordinary escalation can take the tree down.
        let mut on_probation_for = None;
        if exit == Exit::Abnormal
            && let Some(policy) = self.flags.probation
        {
            for m in &spec.modules {
                if on_probation(&self.host, m, &policy) {
                    let window = self.probation.entry(m.clone()).or_default();
                    if window.crash(&policy, Instant::now()) {
                        let crashes = policy.max_crashes as usize + 1;
                        self.probation.remove(m);
                        self.crash_loop_rollback(m, crashes, policy.within, events);
                    }
                    on_probation_for = Some(m.clone());
                    break;
                }
            }
        }
        if on_probation_for.is_none()
            && let Err(why) = self.intensity.add_restart(Instant::now())
        {
            events.push(Event::GiveUp { child: spec.id.clone(), why });
            self.exited = true;
            self.stop_all();
            ctx.stop_self(ExitReason::Shutdown);
            return;
        }
        let plan = self.flags.strategy.plan(self.children.len(), i);
        for &j in &plan.stop {
            if self.running(j) {
                self.stop_slot(j);
            }
        }
        // Temporary children are not restarted by a sibling's failure.
        let mut restart: Vec<usize> = plan.restart;
        restart.retain(|&j| j == i || self.children[j].child.spec.restart != Restart::Temporary);
        for &j in &restart {
            let child = self.children[j].child.spec.id.clone();
            match self.start_slot(j) {
                Ok(()) => events.push(Event::Restarted { child }),
                Err(error) => events.push(Event::RestartFailed { child, error }),
            }
        }
        let temporary: Vec<usize> = (0..self.children.len())
            .filter(|&j| {
                plan.stop.contains(&j) && self.children[j].child.spec.restart == Restart::Temporary
            })
            .collect();
        for j in temporary.into_iter().rev() {
            let removed = self.children.remove(j);
            self.ids.remove(&removed.child.spec.id);
        }
    }

    /// Roll `module` back on the host, mark the crash-looping build bad and
    /// drop it; the caller then restarts the crashed child on the old version.
    fn crash_loop_rollback(
        &mut self,
        module: &str,
        crashes: usize,
        within: std::time::Duration,
        events: &mut Vec<Event>,
    ) {
        let code = self.host.code_server();
        let Some(bad) = code.current(module) else { return };
        let hash = bad.hash();
        drop(bad);
        match code.rollback(module) {
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

/// The supervisor's actor: traps its children's exits.
pub(crate) struct Shell(pub(crate) Arc<Mutex<Tree>>);

impl NativeActor for Shell {
    type Msg = ();
    type Reply = ();

    fn handle(&mut self, (): (), _: &mut NativeContext<'_>) {}

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
