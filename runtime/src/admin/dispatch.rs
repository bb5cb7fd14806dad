//! Admin commands: each request becomes calls on the host, and the host's
//! typed reports and views become the protocol's answers.

use super::listener::{error, send};
use super::protocol::{
    ActorView, ChildView, Command, ErrorKind, HistoryView, Mode, ModuleView, Output, Response,
    TreeView, VersionView,
};
use crate::host::views::{self, ActorState};
use crate::host::{
    Canary, HostHandle, RollbackReport, UpgradeError, UpgradeMode, UpgradeOptions, UpgradeReport,
};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

fn version_view(v: &crate::code_server::VersionInfo) -> VersionView {
    let source = match &v.origin {
        crate::code_server::Origin::Dylib { path, .. } => path.display().to_string(),
        crate::code_server::Origin::Static => "static".into(),
    };
    VersionView {
        version: v.version.to_string(),
        hash: v.hash.to_string(),
        source,
        actors: v.instances,
    }
}

fn module_view(host: &HostHandle, name: &str) -> Option<ModuleView> {
    let code = host.code_server();
    let which = code.which(name)?;
    let file_changed =
        matches!(code.module_status(name), Some(crate::code_server::ModuleStatus::Modified { .. }));
    Some(ModuleView {
        name: name.to_owned(),
        current: version_view(&which.current),
        old: which.old.as_ref().map(version_view),
        file_changed,
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
        module: a.module,
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

pub(super) fn dispatch(host: &HostHandle, command: Command, out: &mut UnixStream) -> Response {
    let code = host.code_server();
    let current = |m: &str| code.current(m).map(|v| v.version().to_string());
    match command {
        Command::Status => Response::Done(Output::Status {
            modules: code.modules().iter().filter_map(|m| module_view(host, m)).collect(),
            actors: host.actor_views().into_iter().map(actor_view).collect(),
            trees: host.tree_views().into_iter().map(tree_view).collect(),
            workers: host.worker_count(),
        }),
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
            let reporter = out.try_clone().ok().map(|mut w| {
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
        Command::Promote { module } => match code.promote(&module) {
            Ok(r) => Response::Done(upgraded(&r, current(&module), vec![module])),
            Err(e) => upgrade_error(&e),
        },
        Command::Abort { module } => match code.abort(&module) {
            Ok(r) => Response::Done(rolled_back(&r)),
            Err(e) => upgrade_error(&e),
        },
        Command::Rollback { module } => match code.rollback(&module) {
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
