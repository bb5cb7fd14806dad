//! Admin commands: each request becomes calls on the host, and the host's
//! typed reports and views become the protocol's answers.

use super::listener::{error, send};
use super::protocol::{
    ActorView, ChildView, Command, ConfigView, ErrorKind, EventView, FunctionView, HistoryView,
    MAX_EVENTS_PER_ANSWER, MAX_EVENTS_WAIT_MS, Mode, ModuleView, Output, Response, TraceEventView,
    TreeView, VersionView,
};
use crate::actor::TraceKind;
use crate::host::views::{self, ActorState};
use crate::host::{
    Canary, HostHandle, RollbackReport, SysError, UpgradeError, UpgradeMode, UpgradeOptions,
    UpgradeReport,
};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

fn version_view(
    v: &crate::code_server::VersionInfo,
    counts: &std::collections::HashMap<crate::code_server::BuildHash, usize>,
) -> VersionView {
    let source = match &v.origin {
        crate::code_server::Origin::Dylib { path, .. } => path.display().to_string(),
        crate::code_server::Origin::Static => "static".into(),
    };
    VersionView {
        version: v.version.to_string(),
        hash: v.hash.to_string(),
        source,
        // issue 20: cli — counted from the index, not from the instances
        // (an upgrade's new instance that is not installed yet is no actor).
        actors: counts.get(&v.hash).copied().unwrap_or(0),
    }
}

fn module_view(host: &HostHandle, name: &str) -> Option<ModuleView> {
    let code = host.code_server();
    let which = code.which(name)?;
    let file_changed =
        matches!(code.module_status(name), Some(crate::code_server::ModuleStatus::Modified { .. }));
    let counts = host.actors_by_build(name);
    Some(ModuleView {
        name: name.to_owned(),
        current: version_view(&which.current, &counts),
        old: which.old.as_ref().map(|o| version_view(o, &counts)),
        file_changed,
        canaries: code.canaries(name).map(|c| c.len()),
    })
}

fn upgraded(report: &UpgradeReport, to: Option<String>, modules: Vec<String>) -> Output {
    Output::Migration {
        modules,
        to,
        migrated: report.migrated,
        restored_from_snapshot: 0,
        remaining: report.remaining,
        failed: report.failed.iter().map(ToString::to_string).collect(),
        duration_us: report.duration.as_micros() as u64,
        longest_pause_us: report.longest_pause.as_micros() as u64,
    }
}

fn rolled_back(report: &RollbackReport) -> Output {
    Output::Migration {
        modules: vec![report.module.clone()],
        to: Some(report.to.to_string()),
        migrated: report.migrated,
        restored_from_snapshot: report.restored_from_snapshot,
        remaining: 0,
        failed: report.failed.iter().map(ToString::to_string).collect(),
        duration_us: report.duration.as_micros() as u64,
        longest_pause_us: report.longest_pause.as_micros() as u64,
    }
}

fn upgrade_error(e: &UpgradeError) -> Response {
    let kind = match e {
        UpgradeError::Rollback(crate::code_server::RollbackError::NotLoaded(_)) => {
            ErrorKind::NotFound
        }
        _ => ErrorKind::Refused,
    };
    error(kind, e.to_string())
}

fn actor_view(a: views::ActorView) -> ActorView {
    let state = match a.state {
        ActorState::Idle => "idle",
        ActorState::Running => "running",
        ActorState::Suspended => "suspended",
        ActorState::Exited => "exited",
    };
    ActorView {
        id: a.id.get(),
        module: a.module.as_deref().map(str::to_owned),
        version: a.version.map(|v| v.to_string()),
        state: state.to_owned(),
        mailbox: a.mailbox,
        handled: a.handled,
        name: a.name,
    }
}

fn tree_view(t: views::TreeView) -> TreeView {
    TreeView {
        actor: t.actor.get(),
        strategy: t.strategy,
        children: t
            .children
            .into_iter()
            .map(|c| ChildView {
                id: c.id,
                actor: c.actor.map(|a| a.get()),
                kind: c.kind,
                modules: c.modules,
                restarts: c.restarts,
            })
            .collect(),
    }
}

// issue 17: typed configuration, hot-reloaded
fn config_views(host: &HostHandle) -> Vec<ConfigView> {
    let secs = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
    };
    host.configs()
        .into_iter()
        .map(|c| ConfigView {
            path: c.path.display().to_string(),
            format: c.format.name().to_owned(),
            revision: c.revision,
            applied_at: secs(c.applied_at),
            last_error: c.last_error,
            last_error_at: c.last_error_at.map(secs),
        })
        .collect()
}

// issue 14: sys
/// The actor an admin request names: an id (`12`, `<12>`) or a registered name.
/// Why a `sys` command was refused: the kind and the message of its answer.
type Refusal = (ErrorKind, String);

fn find_actor(host: &HostHandle, actor: &str) -> Result<crate::actor::AnyActor, Refusal> {
    let id = actor.strip_prefix('<').and_then(|a| a.strip_suffix('>')).unwrap_or(actor);
    let found = match id.parse::<u64>() {
        Ok(n) => host.actor_any(crate::actor::ActorId(n)),
        Err(_) => host.whereis_any(actor),
    };
    found.ok_or_else(|| (ErrorKind::NotFound, format!("no actor `{actor}` (noproc)")))
}

fn sys_error(e: &SysError) -> Refusal {
    let kind = match e {
        SysError::NoProc(_) => ErrorKind::NotFound,
        _ => ErrorKind::Refused,
    };
    // The cause, too: a module's refusal is what the user needs to read.
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if !message.contains(&s.to_string()) {
            message.push_str(&format!(": {s}"));
        }
        source = s.source();
    }
    (kind, message)
}

fn sys_command(host: &HostHandle, command: Command) -> Result<Output, Refusal> {
    let sys = host.sys();
    let err = |e: SysError| sys_error(&e);
    match command {
        Command::State { actor, replace } => {
            let a = find_actor(host, &actor)?;
            let state = match replace {
                Some(json) => {
                    let value: serde_json::Value = serde_json::from_str(&json).map_err(|e| {
                        (ErrorKind::BadRequest, format!("the new state is not JSON: {e}"))
                    })?;
                    sys.replace_state(&a, &value).map_err(err)?
                }
                None => sys.get_state(&a).map_err(err)?,
            };
            Ok(Output::State { actor: a.id().get(), state: state.to_string() })
        }
        Command::Suspend { actor } => {
            let a = find_actor(host, &actor)?;
            sys.suspend(&a).map_err(err)?;
            Ok(Output::Suspended { actor: a.id().get(), suspended: true })
        }
        Command::Resume { actor } => {
            let a = find_actor(host, &actor)?;
            sys.resume(&a).map_err(err)?;
            Ok(Output::Suspended { actor: a.id().get(), suspended: false })
        }
        Command::Stats { actor } => {
            let a = find_actor(host, &actor)?;
            let s = sys.statistics(&a).map_err(err)?;
            Ok(Output::Stats {
                actor: a.id().get(),
                messages_in: s.messages_in,
                messages_out: s.messages_out,
                turns: s.turns,
                mailbox: s.mailbox_len,
                suspended: s.suspended,
            })
        }
        Command::Trace { actor, count, off } => {
            let a = find_actor(host, &actor)?;
            if off {
                sys.untrace(&a).map_err(err)?;
                return Ok(Output::Trace { actor: a.id().get(), tracing: false, events: vec![] });
            }
            let events = match (sys.trace_log(&a).map_err(err)?, count) {
                (Some(events), None) => events,
                (log, count) => {
                    sys.trace(&a, count.unwrap_or(crate::host::DEFAULT_TRACE_EVENTS))
                        .map_err(err)?;
                    // Resized: what the ring kept.
                    if log.is_some() {
                        sys.trace_log(&a).map_err(err)?.unwrap_or_default()
                    } else {
                        vec![]
                    }
                }
            };
            let events = events
                .into_iter()
                .map(|e| TraceEventView {
                    seq: e.seq,
                    kind: match e.kind {
                        TraceKind::Cast => "cast",
                        TraceKind::Call => "call",
                        _ => "reply",
                    }
                    .to_owned(),
                    message: e.message.to_string(),
                })
                .collect();
            Ok(Output::Trace { actor: a.id().get(), tracing: true, events })
        }
        other => unreachable!("not a sys command: {other:?}"),
    }
}
// end issue 14: sys

// issue 16: observer
/// One event as the protocol shows it.
fn event_view(e: &crate::code_server::Event) -> EventView {
    use crate::code_server::EventKind as K;
    let mut v = EventView {
        seq: e.seq,
        at_ms: e.at.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
        kind: String::new(),
        module: e.kind.module().map(str::to_owned),
        from: None,
        to: None,
        hash: None,
        supervisor: None,
        child: None,
        actor: None,
        count: None,
        reason: None,
    };
    let kind = match &e.kind {
        K::Loaded { version, hash, .. } => {
            (v.to, v.hash) = (Some(version.to_string()), Some(hash.to_string()));
            "loaded"
        }
        K::Upgraded { from, to, hash, .. } => {
            (v.from, v.to) = (Some(from.to_string()), Some(to.to_string()));
            v.hash = Some(hash.to_string());
            "upgraded"
        }
        K::Migrated { to, actors, .. } => {
            (v.to, v.count) = (Some(to.to_string()), Some(actors.len()));
            "migrated"
        }
        K::RolledBack { from, to, .. } => {
            (v.from, v.to) = (Some(from.to_string()), Some(to.to_string()));
            "rolled_back"
        }
        K::Purged { version, instances, .. } => {
            (v.from, v.count) = (Some(version.to_string()), Some(*instances));
            "purged"
        }
        K::Unloaded { version, .. } => {
            v.from = Some(version.clone());
            "unloaded"
        }
        K::Resident { version, reason, .. } => {
            (v.from, v.reason) = (Some(version.clone()), Some(format!("{reason:?}")));
            "resident"
        }
        K::MarkedBad { hash, .. } => {
            v.hash = Some(hash.to_string());
            "marked_bad"
        }
        K::Refused { action, to, reason, .. } => {
            v.to = to.clone();
            v.reason = Some(format!("{}: {reason}", format!("{action:?}").to_lowercase()));
            "refused"
        }
        K::Crashed { supervisor, child, actor, reason } => {
            (v.supervisor, v.child) = (Some(*supervisor), Some(child.clone()));
            (v.actor, v.reason) = (Some(*actor), Some(reason.clone()));
            "crashed"
        }
        K::Restarted { supervisor, child, actor } => {
            (v.supervisor, v.child, v.actor) =
                (Some(*supervisor), Some(child.clone()), Some(*actor));
            "restarted"
        }
        K::Escalated { supervisor, child, reason } => {
            (v.supervisor, v.child) = (Some(*supervisor), Some(child.clone()));
            v.reason = Some(reason.clone());
            "escalated"
        }
        K::ConfigApplied { path, revision } => {
            (v.count, v.reason) = (Some(*revision as usize), Some(path.clone()));
            "config_applied"
        }
        K::ConfigRefused { path, reason } => {
            v.reason = Some(format!("{path}: {reason}"));
            "config_refused"
        }
    };
    v.kind = kind.to_owned();
    v
}

/// `Events`: what is kept from `after` on, or the next event within the wait.
fn events(host: &HostHandle, after: u64, wait_ms: Option<u64>) -> Output {
    let mut sub = host.events_from(after.max(1));
    let (mut events, mut missed) = (Vec::new(), 0);
    let wait = Duration::from_millis(wait_ms.unwrap_or(0).min(MAX_EVENTS_WAIT_MS));
    let mut first = if wait.is_zero() { sub.try_recv() } else { sub.recv_timeout(wait) };
    while let Some(item) = first.take() {
        match item {
            Ok(e) => events.push(event_view(&e)),
            Err(crate::code_server::Lagged(n)) => missed += n,
        }
        if events.len() >= MAX_EVENTS_PER_ANSWER {
            break;
        }
        first = sub.try_recv();
    }
    // Where this subscription stands: past what it read and missed, and,
    // for an `after` beyond the last event, at the end (not at `after`,
    // which would skip what comes next).
    let next = sub.position();
    Output::Events { events, next, missed }
}

impl HostHandle {
    /// Answer one admin command in this process, as the admin socket would
    /// (an observer's data source; an upgrade's progress lines are not
    /// reported this way).
    pub fn answer_admin(&self, command: Command) -> Response {
        dispatch(self, command, None)
    }
}
// end issue 16: observer

pub(super) fn dispatch(
    host: &HostHandle,
    command: Command,
    out: Option<&mut UnixStream>,
) -> Response {
    let code = host.code_server();
    let current = |m: &str| code.current(m).map(|v| v.version().to_string());
    match command {
        // issue 14: sys
        c @ (Command::State { .. }
        | Command::Suspend { .. }
        | Command::Resume { .. }
        | Command::Stats { .. }
        | Command::Trace { .. }) => match sys_command(host, c) {
            Ok(o) => Response::Done(o),
            Err((kind, message)) => error(kind, message),
        },
        // end issue 14: sys
        // issue 16: observer
        Command::Events { after, wait_ms } => Response::Done(events(host, after, wait_ms)),
        Command::Status => Response::Done(Output::Status {
            modules: code.modules().iter().filter_map(|m| module_view(host, m)).collect(),
            actors: host.actor_views().into_iter().map(actor_view).collect(),
            trees: host.tree_views().into_iter().map(tree_view).collect(),
            workers: host.worker_count(),
            configs: config_views(host),
            // issue 17: functions
            functions: host
                .functions()
                .into_iter()
                .map(|f| FunctionView {
                    module: f.module,
                    function: f.function,
                    version: f.version.map(|v| v.to_string()),
                    share: f.canary.as_ref().map(|(_, share)| *share),
                    canary: f.canary.map(|(v, _)| v.to_string()),
                    calls: f.calls,
                })
                .collect(),
        }),
        // issue 17: typed configuration, hot-reloaded
        Command::Config => Response::Done(Output::Config { configs: config_views(host) }),
        // issue 16: metrics
        Command::Metrics => Response::Done(Output::Metrics { text: host.metrics_text() }),
        Command::Which { module } => match module_view(host, &module) {
            Some(m) => Response::Done(Output::Which { module: m }),
            None => error(ErrorKind::NotFound, format!("module `{module}` is not loaded")),
        },
        Command::History { module } => Response::Done(Output::History {
            entries: code
                .history(module.as_deref())
                .into_iter()
                .map(|h| HistoryView {
                    at: h.at.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
                    module: h.module,
                    action: format!("{:?}", h.action).to_lowercase(),
                    from: h.from,
                    to: h.to,
                    hash: h.hash.map(|b| b.to_string()),
                    source: h.source,
                    refused: h.refused,
                    duration_us: h.duration.as_micros() as u64,
                })
                .collect(),
        }),
        Command::Upgrade { module, path, mode, timeout_ms, force, purge } => {
            let total = host.actors_of(&module);
            let done = Arc::new(AtomicUsize::new(0));
            let mode = match mode {
                Mode::Atomic => UpgradeMode::Atomic,
                Mode::Gradual { count, percent } => UpgradeMode::Gradual(match (count, percent) {
                    (Some(n), _) => Canary::Count(n),
                    (None, Some(p)) => Canary::Percent(p),
                    (None, None) => Canary::Percent(10),
                }),
            };
            let opts = UpgradeOptions::new()
                .mode(mode)
                .suspend_timeout(Duration::from_millis(timeout_ms.unwrap_or(5000)))
                .force(force)
                .purge(purge)
                .progress(Arc::clone(&done));
            // Report progress every 50 ms while the upgrade runs.
            let finished = Arc::new(AtomicBool::new(false));
            let reporter = out.and_then(|o| o.try_clone().ok()).map(|mut w| {
                let (done, finished) = (Arc::clone(&done), Arc::clone(&finished));
                std::thread::spawn(move || {
                    // ORDERING: display counters.
                    while !finished.load(Ordering::Relaxed) {
                        let d = done.load(Ordering::Relaxed);
                        if total > 0
                            && send(&mut w, &Response::Progress { done: d, total }).is_err()
                        {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(50));
                    }
                })
            });
            let result = code.upgrade_with(&module, path.as_str(), opts);
            // ORDERING: as above.
            finished.store(true, Ordering::Relaxed);
            if let Some(r) = reporter {
                let _ = r.join();
            }
            match result {
                Ok(r) => Response::Done(upgraded(&r, current(&module), vec![module])),
                Err(e) => upgrade_error(&e),
            }
        }
        // issue 15: dependencies
        Command::UpgradeAll { modules, timeout_ms, force, purge } => {
            let opts = UpgradeOptions::new()
                .suspend_timeout(Duration::from_millis(timeout_ms.unwrap_or(5000)))
                .force(force)
                .purge(purge);
            let names: Vec<String> = modules.iter().map(|(m, _)| m.clone()).collect();
            let unit = modules
                .into_iter()
                .map(|(m, p)| (m, crate::code_server::Source::from(p)))
                .collect();
            match code.upgrade_all(unit, opts) {
                Ok(r) => {
                    // The modules in the order they were loaded (callees first).
                    let order: Vec<String> = r.modules.iter().map(|l| l.module.clone()).collect();
                    let order = if order.is_empty() { names } else { order };
                    Response::Done(upgraded(&r, None, order))
                }
                Err(e) => upgrade_error(&e),
            }
        }
        Command::Promote { module } => match code.promote(&module) {
            Ok(r) => Response::Done(upgraded(&r, current(&module), vec![module])),
            Err(e) => upgrade_error(&e),
        },
        Command::Abort { module, force } => match code.abort_with(&module, force) {
            Ok(r) => Response::Done(rolled_back(&r)),
            Err(e) => upgrade_error(&e),
        },
        Command::Rollback { module, force } => match code.rollback_with(&module, force) {
            Ok(r) => Response::Done(rolled_back(&r)),
            Err(e) => upgrade_error(&e),
        },
        Command::Purge { module, soft } => {
            let result = if soft { code.soft_purge(&module) } else { code.purge(&module) };
            match result {
                Ok(r) => Response::Done(Output::Purged { purged: r.purged.map(|v| v.to_string()) }),
                Err(crate::code_server::PurgeError::NotLoaded(m)) => {
                    error(ErrorKind::NotFound, format!("module `{m}` is not loaded"))
                }
                Err(e) => error(ErrorKind::Refused, e.to_string()),
            }
        }
    }
}
