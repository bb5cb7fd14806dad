//! Human output for each answer.

use relive_runtime::admin::protocol::{ModuleView, Output, VersionView};
use std::fmt::Write as _;

fn version(v: &VersionView) -> String {
    format!(
        "{} ({} actors, build {}, {})",
        v.version,
        v.actors,
        &v.hash[..16.min(v.hash.len())],
        v.source
    )
}

fn module(m: &ModuleView) -> String {
    let mut s = format!("{}\n  current: {}\n", m.name, version(&m.current));
    match &m.old {
        Some(o) => {
            let _ = writeln!(s, "  old:     {}", version(o));
        }
        None => s.push_str("  old:     -\n"),
    }
    if m.file_changed {
        s.push_str("  (the file on disk holds another build)\n");
    }
    s
}

/// Render an answer for a person.
pub(crate) fn human(out: &Output) -> String {
    match out {
        Output::Status { modules, actors, trees, workers } => {
            let mut s = format!("host: {workers} workers, {} actors\n\nmodules:\n", actors.len());
            for m in modules {
                s.push_str(&module(m));
            }
            let by_id: std::collections::HashMap<u64, &relive_runtime::admin::protocol::ActorView> =
                actors.iter().map(|a| (a.id, a)).collect();
            if !trees.is_empty() {
                s.push_str("\nsupervision trees:\n");
            }
            for t in trees {
                let _ = writeln!(s, "  supervisor <{}> {}", t.actor, t.strategy);
                for c in &t.children {
                    let a = c.actor.and_then(|id| by_id.get(&id));
                    let _ = writeln!(
                        s,
                        "    {:<12} {:<8} {:<10} {:<8} {:<10} mailbox {:<5} restarts {}",
                        c.id,
                        c.actor.map_or("-".to_owned(), |id| format!("<{id}>")),
                        c.modules.join(","),
                        a.and_then(|a| a.version.as_deref()).unwrap_or("-"),
                        a.map_or("exited", |a| a.state.as_str()),
                        a.map_or(0, |a| a.mailbox),
                        c.restarts
                    );
                }
            }
            s.push_str(
                "\nactors:\n  id      module      version  state      mailbox  handled  name\n",
            );
            for a in actors {
                let _ = writeln!(
                    s,
                    "  {:<7} {:<11} {:<8} {:<10} {:<8} {:<8} {}",
                    a.id,
                    a.module.as_deref().unwrap_or("(native)"),
                    a.version.as_deref().unwrap_or("-"),
                    a.state,
                    a.mailbox,
                    a.handled,
                    a.name.as_deref().unwrap_or("")
                );
            }
            s
        }
        Output::Migration {
            modules,
            to,
            migrated,
            restored_from_snapshot,
            remaining,
            failed,
            duration_us,
            longest_pause_us,
        } => {
            let mut s = format!(
                "{}: now {} — {migrated} actor(s) migrated in {:.1} ms, longest pause {:.1} ms",
                modules.join(", "),
                to.as_deref().unwrap_or("?"),
                *duration_us as f64 / 1000.0,
                *longest_pause_us as f64 / 1000.0
            );
            if *restored_from_snapshot > 0 {
                let _ =
                    write!(s, ", {restored_from_snapshot} restored from their upgrade snapshot");
            }
            if *remaining > 0 {
                let _ = write!(s, ", {remaining} still on the old version");
            }
            s.push('\n');
            for f in failed {
                let _ = writeln!(s, "  failed: {f}");
            }
            s
        }
        Output::Purged { purged } => match purged {
            Some(v) => format!("purged {v}\n"),
            None => "nothing to purge\n".into(),
        },
        Output::Which { module: m } => module(m),
        // issue 14: sys
        Output::State { actor, state } => {
            let pretty = serde_json::from_str::<serde_json::Value>(state)
                .ok()
                .and_then(|v| serde_json::to_string_pretty(&v).ok())
                .unwrap_or_else(|| state.clone());
            format!("<{actor}> state:\n{pretty}\n")
        }
        Output::Suspended { actor, suspended } => {
            format!("<{actor}> {}\n", if *suspended { "suspended" } else { "resumed" })
        }
        Output::Stats { actor, messages_in, messages_out, turns, mailbox, suspended } => format!(
            "<{actor}>{}\n  messages in:  {messages_in}\n  messages out: {messages_out}\n  turns:        {turns}\n  mailbox:      {mailbox}\n",
            if *suspended { " (suspended)" } else { "" }
        ),
        Output::Trace { actor, tracing, events } => {
            if !tracing {
                return format!("<{actor}> not traced\n");
            }
            let mut s = format!("<{actor}> traced, {} event(s) kept\n", events.len());
            for e in events {
                let dir = if e.kind == "reply" { "out" } else { "in " };
                let _ = writeln!(s, "  {:>5} {dir} {:<5} {}", e.seq, e.kind, e.message);
            }
            s
        }
        Output::History { entries } => {
            let mut s = String::new();
            for e in entries {
                let _ = writeln!(
                    s,
                    "{}  {:<10} {:<9} {} -> {}{}",
                    e.at,
                    e.module,
                    e.action,
                    e.from.as_deref().unwrap_or("-"),
                    e.to.as_deref().unwrap_or("-"),
                    e.refused.as_deref().map(|r| format!("  REFUSED: {r}")).unwrap_or_default()
                );
            }
            s
        }
    }
}
