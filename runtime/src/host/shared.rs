//! `HostShared`: the layers composed into one running host, and the
//! [`System`] the actor layer runs in.
//!
//! It owns the module table, the registry, the handle to the scheduler, the
//! upgrade state, the timers and the deferred replies; each of those lives
//! in its own file and type. This file only wires them together.

use super::kill::Turns;
use super::registry::Registry;
use super::services::{self, PendingReplies};
use super::spawn_gate::SpawnGate;
use super::timers::Timers;
use super::upgrade::UpgradeState;
use super::views::TreeSource;
use crate::actor::{ActorCell, ActorId, Envelope, ExitReason, System, turn};
use crate::code_server::ModuleTable;
use crate::scheduler;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

/// The state every part of the host shares.
#[derive(Debug)]
pub(crate) struct HostShared {
    pub(crate) table: ModuleTable,
    pub(crate) registry: Registry,
    pub(crate) sched: OnceLock<Arc<scheduler::Shared<Arc<ActorCell>>>>,
    pub(crate) upgrades: UpgradeState,
    /// Spawns wait here while an atomic upgrade commits.
    pub(crate) spawn_gate: SpawnGate,
    pub(crate) timers: Timers,
    pub(crate) pending: PendingReplies,
    /// Supervision trees, for `status`.
    pub(crate) trees: Mutex<Vec<Arc<dyn TreeSource>>>,
    pub(crate) dead_letters: AtomicU64,
    /// Whether a blocking call from a host thread to an idle module actor
    /// runs the actor's turn on the calling thread (`HostBuilder::inline_calls`).
    pub(crate) inline_calls: bool,
    /// This host, for the inline turns that record it in a thread-local.
    pub(crate) me: Weak<HostShared>,
    /// Which actor each worker runs (for kills that overrun).
    pub(crate) turns: Turns,
    /// How long a stop waits for a handler to return (`HostBuilder::kill_timeout`).
    pub(crate) kill_timeout: std::time::Duration,
    // issue 15: port
    /// The ports modules do I/O through.
    pub(crate) ports: super::port::Ports,
    // issue 17: typed configuration, hot-reloaded
    /// The configurations opened on this host (for `relive config`).
    pub(crate) configs: Mutex<Vec<Weak<dyn super::config::ConfigSource>>>,
    // issue 16: metrics
    /// The metric registry (beside the versions' own counters).
    pub(crate) metrics: super::metrics::Metrics,
    // issue 17: functions
    /// The slots of the stateless functions handles were made for.
    pub(crate) functions: super::function::Functions,
}

impl HostShared {
    pub(crate) fn new(
        table: ModuleTable,
        inline_calls: bool,
        kill_timeout: std::time::Duration,
        me: Weak<HostShared>,
        (ports, metrics): (super::port::Ports, super::metrics::Metrics),
    ) -> Self {
        services::install();
        HostShared {
            table,
            registry: Registry::new(),
            sched: OnceLock::new(),
            upgrades: UpgradeState::default(),
            spawn_gate: SpawnGate::default(),
            timers: Timers::default(),
            pending: PendingReplies::default(),
            trees: Mutex::new(Vec::new()),
            dead_letters: AtomicU64::new(0),
            inline_calls,
            me,
            turns: Turns::default(),
            kill_timeout,
            ports,
            configs: Mutex::new(Vec::new()),
            metrics,
            functions: super::function::Functions::default(),
        }
    }

    // issue 17: functions
    /// How `module`'s functions are served now: on its current version, or
    /// (a gradual upgrade in progress) on the old one with a share of calls
    /// on the new.
    pub(crate) fn serve_of(&self, module: &str) -> super::function::Serve {
        match self.upgrades.gradual.lock().get(module) {
            Some(g) => super::function::Serve::Gradual(g.function_share),
            None => super::function::Serve::Current,
        }
    }

    /// Serve `module`'s functions from the slots as they are now: after
    /// every change of them (upgrade, rollback, promote, abort, load).
    pub(crate) fn refresh_functions(&self, module: &str) {
        self.functions.refresh(&self.table, module, &|| self.serve_of(module));
    }

    fn scheduler(&self) -> &scheduler::Shared<Arc<ActorCell>> {
        self.sched.get().expect("scheduler started")
    }

    pub(crate) fn scheduler_shared(&self) -> &Arc<scheduler::Shared<Arc<ActorCell>>> {
        self.sched.get().expect("scheduler started")
    }

    pub(crate) fn worker_count(&self) -> usize {
        self.scheduler().workers()
    }
}

impl System for HostShared {
    fn schedule(&self, cell: Arc<ActorCell>) {
        self.scheduler().schedule(cell);
    }

    fn on_worker(&self) -> bool {
        self.scheduler().on_worker()
    }

    fn run_inline(&self, cell: &Arc<ActorCell>) -> Option<bool> {
        if !self.inline_calls
            || cell.module.as_deref().is_some_and(crate::code_server::pins_host_threads)
        {
            return None;
        }
        let me = self.me.upgrade()?;
        Some(run_one(&me, cell, services::Turn::enter_inline(&me, cell.id)))
    }

    fn lookup(&self, id: ActorId) -> Option<Arc<ActorCell>> {
        self.registry.lookup(id)
    }

    fn retire(&self, cell: &ActorCell, name: Option<String>, reason: &ExitReason) {
        self.pending.fail_owned_by(cell.id, reason);
        // issue 14: gen_server
        self.timers.forget_actor(cell.id);
        self.upgrades.forget(cell.id);
        self.registry.remove(cell, name);
    }

    fn dead_letters(&self, n: u64) {
        // ORDERING: a statistic.
        self.dead_letters.fetch_add(n, Ordering::Relaxed);
    }

    fn deferred_move(&self, cell: &Arc<ActorCell>, body: &mut crate::actor::Body) {
        self.apply_deferred_move(cell, body);
    }

    // issue 15: interfaces that grow
    fn caller_types(
        &self,
        cell: &ActorCell,
        interface: crate::code_server::Interface,
    ) -> Result<(), crate::code_server::TypeMismatch> {
        let module = cell.module.as_deref().unwrap_or("");
        if let Some(version) = self.table.current(module) {
            // The init args are the version's own: a typed reference has none.
            let interface =
                crate::code_server::Interface { args: version.schemas().args, ..interface };
            interface.check(&version)?;
            self.table.pin_interface(module, interface)?;
        }
        Ok(())
    }
}

impl crate::code_server::RetireThreads for HostShared {
    /// A library stayed mapped after it was closed: threads hold thread-local
    /// destructors it registered. Replace every worker (the fresh ones start
    /// at once) and wait for the old ones to end, running those destructors
    /// while the library is still mapped.
    fn retire_threads(&self, deadline: std::time::Instant) {
        let sched = self.scheduler_shared();
        let tokens = sched.replace_all();
        for t in &tokens {
            self.turns.forget(*t);
        }
        if !sched.join(&tokens, deadline) {
            tracing::warn!(
                "a retired worker was still busy; its thread-local destructors wait for it"
            );
        }
    }
}

/// Runs actor turns for the scheduler.
pub(crate) struct Runner(pub(crate) Arc<HostShared>);

impl scheduler::Run<Arc<ActorCell>> for Runner {
    fn run(&self, cell: &Arc<ActorCell>) -> bool {
        run_one(&self.0, cell, services::Turn::enter(&self.0, cell.id))
    }
}

thread_local! {
    /// Marks a worker as one of relive's threads for as long as it lives.
    static OURS: std::cell::OnceCell<crate::ffi::unload::OurThread> =
        const { std::cell::OnceCell::new() };
    /// The batch buffer of the turns this thread runs (kept, not reallocated).
    static BATCH_BUF: std::cell::RefCell<VecDeque<Envelope>> =
        const { std::cell::RefCell::new(VecDeque::new()) };
}

/// Run one turn of `cell` (which this thread moved to `SCHEDULED`) on this
/// thread, a worker or an inline caller; true if it must be requeued. The
/// turn is exactly a worker's (same state machine, same body lock, same
/// batch), so order, exclusivity and upgrade suspension hold wherever it runs.
/// `_turn` marks the thread as running it (a worker's or an inline turn).
fn run_one(host: &Arc<HostShared>, cell: &Arc<ActorCell>, _turn: services::Turn) -> bool {
    let worker = host.scheduler().current_worker();
    let host_id = Arc::as_ptr(host) as usize;
    if worker != 0 {
        host.turns.record(host_id, worker, cell.id.get());
        // A worker is relive's own thread: the unloader need not probe it.
        OURS.with(|o| {
            o.get_or_init(crate::ffi::unload::OurThread::enter);
        });
    }
    let again = BATCH_BUF.with(|b| {
        let mut batch = std::mem::take(&mut *b.borrow_mut());
        let again = turn::run(&**host, cell, &mut batch);
        *b.borrow_mut() = batch;
        again
    });
    if worker != 0 {
        host.turns.record(host_id, worker, 0);
        if super::kill::handed_over() {
            host.turns.forget(worker);
        }
    }
    // issue 14: sys — one add per turn, only when its handlers sent.
    let sent = services::take_sent();
    if sent > 0 {
        // ORDERING: a statistic.
        cell.sent.fetch_add(sent, Ordering::Relaxed);
    }
    again
}
