//! Human output for each answer.

use relive_runtime::admin::protocol::{
    ActorView, ChildView, ConfigView, FunctionView, HistoryView, ModuleView, Output, TreeView,
    VersionView,
};
use std::collections::HashMap;
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

/// What `relive status` lists besides its summary (issue 20).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Show {
    /// List actors (`--actors`, or implied by `module` or `limit`).
    pub(crate) actors: bool,
    /// Only this module's actors and module (`--module NAME`).
    pub(crate) module: Option<String>,
    /// List at most this many actors (`--limit N`; [`DEFAULT_LIMIT`]).
    pub(crate) limit: Option<usize>,
}

/// Actors listed by `--actors` without `--limit`.
pub(crate) const DEFAULT_LIMIT: usize = 50;

/// Supervisors named in the summary; the rest are counted.
const SUPERVISORS_SHOWN: usize = 10;

/// The most-restarted children named on a supervisor's line.
const RESTARTED_SHOWN: usize = 3;

impl Show {
    /// Whether `a` is one of the actors asked for.
    pub(crate) fn matches(&self, a: &ActorView) -> bool {
        self.module.as_deref().is_none_or(|m| a.module.as_deref() == Some(m))
    }

    /// How many actors to list.
    fn limit(&self) -> usize {
        if self.actors { self.limit.unwrap_or(DEFAULT_LIMIT) } else { 0 }
    }
}

/// `relive status`: a summary whose length does not grow with the number
/// of actors (modules, versions with their actor counts, gradual upgrades,
/// supervisors, actor states), then the actors asked for.
// issue 17: functions
/// The stateless functions, one line each: the version serving them (and a
/// gradual upgrade's share), and the calls made.
fn functions_section(functions: &[&FunctionView]) -> String {
    let mut s = String::from("\nfunctions:\n");
    for f in functions {
        let serving = f.version.as_deref().unwrap_or("- (no loaded version exports it)");
        let canary = match (&f.canary, f.share) {
            (Some(v), Some(share)) => format!(", {v} serves {share} % of calls"),
            _ => String::new(),
        };
        let _ =
            writeln!(s, "  {}::{}: {serving}{canary} ({} calls)", f.module, f.function, f.calls);
    }
    s
}

fn status(
    modules: &[ModuleView],
    actors: &[ActorView],
    trees: &[TreeView],
    workers: usize,
    functions: &[FunctionView],
    show: &Show,
) -> String {
    let mut s = format!("host: {workers} workers, {} actors\n\nmodules:\n", actors.len());
    let shown: Vec<&ModuleView> =
        modules.iter().filter(|m| show.module.as_deref().is_none_or(|n| n == m.name)).collect();
    if shown.is_empty() {
        match &show.module {
            Some(n) => {
                let _ = writeln!(s, "  no module `{n}` is loaded");
            }
            None => s.push_str("  none\n"),
        }
    }
    for m in shown {
        s.push_str(&module(m));
        if let Some(canaries) = m.canaries {
            let _ = writeln!(
                s,
                "  gradual upgrade in progress: {canaries} canar{} moved first, {} on {}, {} on {}; \
                 `relive promote {}` or `relive abort {}`",
                if canaries == 1 { "y" } else { "ies" },
                m.current.actors,
                m.current.version,
                m.old.as_ref().map_or(0, |o| o.actors),
                m.old.as_ref().map_or("-", |o| o.version.as_str()),
                m.name,
                m.name,
            );
        }
    }
    // issue 17: functions
    let shown: Vec<&FunctionView> =
        functions.iter().filter(|f| show.module.as_deref().is_none_or(|n| n == f.module)).collect();
    if !shown.is_empty() {
        s.push_str(&functions_section(&shown));
    }
    if !trees.is_empty() {
        let _ = writeln!(s, "\nsupervisors: {}", trees.len());
    }
    for t in trees.iter().take(SUPERVISORS_SHOWN) {
        let running = t.children.iter().filter(|c| c.actor.is_some()).count();
        let restarts: u64 = t.children.iter().map(|c| u64::from(c.restarts)).sum();
        let mut restarted: Vec<&ChildView> = t.children.iter().filter(|c| c.restarts > 0).collect();
        restarted.sort_by(|a, b| b.restarts.cmp(&a.restarts).then_with(|| a.id.cmp(&b.id)));
        let most = restarted
            .iter()
            .take(RESTARTED_SHOWN)
            .map(|c| format!("{} {}", c.id, c.restarts))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            s,
            "  <{}> {}: {} children, {running} running, {restarts} restarts{}",
            t.actor,
            t.strategy,
            t.children.len(),
            if most.is_empty() { String::new() } else { format!(" (most: {most})") }
        );
    }
    if trees.len() > SUPERVISORS_SHOWN {
        let _ = writeln!(s, "  … and {} more supervisors", trees.len() - SUPERVISORS_SHOWN);
    }
    // Actor states, counted.
    let mut states: Vec<(&str, usize)> = Vec::new();
    for a in actors.iter().filter(|a| show.matches(a)) {
        match states.iter_mut().find(|(st, _)| *st == a.state) {
            Some((_, n)) => *n += 1,
            None => states.push((a.state.as_str(), 1)),
        }
    }
    // Busy first: what a person looks for.
    let rank = |st: &str| {
        ["running", "suspended", "idle", "exited"].iter().position(|r| *r == st).unwrap_or(4)
    };
    states.sort_by_key(|(st, _)| (rank(st), *st));
    let matched: usize = states.iter().map(|(_, n)| n).sum();
    let states = states.iter().map(|(st, n)| format!("{n} {st}")).collect::<Vec<_>>().join(", ");
    let whose = show.module.as_deref().map(|m| format!(" of {m}")).unwrap_or_default();
    let _ = write!(s, "\nactors{whose}: {matched}");
    if !states.is_empty() {
        let _ = write!(s, " ({states})");
    }
    let limit = show.limit();
    if !show.actors {
        s.push_str("; list them with --actors, --module NAME or --limit N\n");
        return s;
    }
    s.push('\n');
    // The child each actor is, in which supervisor.
    let children: HashMap<u64, (u64, &str)> = trees
        .iter()
        .flat_map(|t| {
            t.children.iter().filter_map(|c| c.actor.map(|a| (a, (t.actor, c.id.as_str()))))
        })
        .collect();
    if limit > 0 && matched > 0 {
        s.push_str("  id      module      version  state      mailbox  handled  name\n");
    }
    for a in actors.iter().filter(|a| show.matches(a)).take(limit) {
        let name = match (&a.name, children.get(&a.id)) {
            (Some(n), Some((sup, child))) => format!("{n} ({child} of <{sup}>)"),
            (Some(n), None) => n.clone(),
            (None, Some((sup, child))) => format!("({child} of <{sup}>)"),
            (None, None) => String::new(),
        };
        let row = format!(
            "  {:<7} {:<11} {:<8} {:<10} {:<8} {:<8} {}",
            format!("<{}>", a.id),
            a.module.as_deref().unwrap_or("(native)"),
            a.version.as_deref().unwrap_or("-"),
            a.state,
            a.mailbox,
            a.handled,
            name
        );
        let _ = writeln!(s, "{}", row.trim_end());
    }
    if matched > limit {
        let _ = writeln!(
            s,
            "  … and {} more (--limit N lists more, --json prints all)",
            matched - limit
        );
    }
    s
}

/// An entry's time, in the system's local time zone (`TZ`, else
/// `/etc/localtime`), with its offset; the raw seconds if it has none.
fn local_time(at: u64, zone: &jiff::tz::TimeZone) -> String {
    let Ok(secs) = i64::try_from(at) else { return at.to_string() };
    match jiff::Timestamp::from_second(secs) {
        Ok(t) => t.to_zoned_datetime(zone.clone()).strftime("%Y-%m-%d %H:%M:%S %:z").to_string(),
        Err(_) => at.to_string(),
    }
}

/// `relive history`: one row per entry in aligned columns (local time,
/// module, action, versions, build, file); a refused entry says so and
/// gives its reason on the next line.
fn history(entries: &[HistoryView], zone: &jiff::tz::TimeZone) -> String {
    if entries.is_empty() {
        return "no history\n".to_owned();
    }
    let rows: Vec<[String; 6]> = entries
        .iter()
        .map(|e| {
            let action = match e.action.as_str() {
                "markbad" => "mark-bad".to_owned(),
                a => a.to_owned(),
            };
            let versions = match (e.action.as_str(), &e.from, &e.to) {
                ("markbad" | "purge", _, Some(to)) => to.clone(),
                (_, from, to) => format!(
                    "{} -> {}",
                    from.as_deref().unwrap_or("-"),
                    to.as_deref().unwrap_or("-")
                ),
            };
            let build = e.hash.as_deref().map_or("-".to_owned(), |h| h[..16.min(h.len())].into());
            [
                local_time(e.at, zone),
                e.module.clone(),
                if e.refused.is_some() { format!("{action} REFUSED") } else { action },
                versions,
                build,
                e.source.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let header = ["time", "module", "action", "versions", "build", "file"];
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: [&str; 6]| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                let _ = write!(l, "{c:<w$}  ", w = widths[i]);
            }
        }
        l.trim_end().to_owned()
    };
    let mut s = line(header);
    s.push('\n');
    for (r, e) in rows.iter().zip(entries) {
        s.push_str(&line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]]));
        s.push('\n');
        if let Some(reason) = &e.refused {
            let _ = writeln!(s, "    reason: {reason}");
        }
    }
    s
}

// issue 17: typed configuration, hot-reloaded
/// `relive config`: each file with its format, the revision in force and
/// when it was applied; the last refusal, with its time and reason, or
/// that the file on disk is the configuration in force.
fn config(configs: &[ConfigView], zone: &jiff::tz::TimeZone) -> String {
    if configs.is_empty() {
        return "no configuration\n".to_owned();
    }
    let mut s = String::new();
    for c in configs {
        let _ = writeln!(s, "{} ({})", c.path, c.format);
        let _ =
            writeln!(s, "  revision:   {}, applied {}", c.revision, local_time(c.applied_at, zone));
        match (&c.last_error, c.last_error_at) {
            (Some(e), at) => {
                let at = at.map_or_else(|| "?".to_owned(), |t| local_time(t, zone));
                let _ = writeln!(s, "  last error: {at}, the old configuration stays in force");
                let _ = writeln!(s, "    reason: {e}");
            }
            (None, _) => s.push_str("  last error: none (the file on disk is in force)\n"),
        }
    }
    s
}

/// An answer as `--json` prints it: complete — every actor of a status —
/// unless `--module` or `--limit` was given: then `actors` holds the first
/// `limit` actors of that module, and `actors_matched` says how many
/// there are in all.
pub(crate) fn json(out: &Output, show: &Show) -> serde_json::Value {
    let mut value = serde_json::to_value(out).unwrap_or_default();
    if let Output::Status { actors, .. } = out
        && (show.module.is_some() || show.limit.is_some())
    {
        let matched: Vec<&ActorView> = actors.iter().filter(|a| show.matches(a)).collect();
        let listed: Vec<&ActorView> =
            matched.iter().copied().take(show.limit.unwrap_or(usize::MAX)).collect();
        value["Status"]["actors_matched"] = matched.len().into();
        value["Status"]["actors"] = serde_json::to_value(listed).unwrap_or_default();
    }
    value
}

/// Render an answer for a person (`show`: what `status` lists).
pub(crate) fn human(out: &Output, show: &Show) -> String {
    match out {
        Output::Status { modules, actors, trees, workers, configs, functions } => {
            let mut s = status(modules, actors, trees, *workers, functions, show);
            // issue 17: only a host that has configurations shows them.
            if !configs.is_empty() {
                s.push_str("\nconfigs:\n");
                for c in configs {
                    let _ = write!(s, "  {} ({}): revision {}", c.path, c.format, c.revision);
                    match &c.last_error {
                        Some(e) => {
                            let _ = writeln!(s, ", last change REFUSED: {e}");
                        }
                        None => s.push('\n'),
                    }
                }
            }
            s
        }
        // issue 17: typed configuration, hot-reloaded
        Output::Config { configs } => config(configs, &jiff::tz::TimeZone::system()),
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
        Output::History { entries } => history(entries, &jiff::tz::TimeZone::system()),
        // issue 16: observer (the CLI never sends `Events`; a line per event all the same)
        Output::Events { events, missed, .. } => {
            let mut s = String::new();
            if *missed > 0 {
                let _ = writeln!(s, "({missed} event(s) no longer kept)");
            }
            for e in events {
                let what =
                    [e.module.as_deref(), e.child.as_deref(), e.to.as_deref(), e.reason.as_deref()]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" ");
                let _ = writeln!(s, "{:>6} {:<11} {what}", e.seq, e.kind);
            }
            s
        }
        // issue 16: metrics — printed as the host wrote it.
        Output::Metrics { text } => text.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relive_runtime::admin::protocol::VersionView;

    fn version(v: &str, hash: char, actors: usize) -> VersionView {
        VersionView {
            version: v.into(),
            hash: hash.to_string().repeat(64),
            source: format!("/srv/billing/libbilling-{v}.so"),
            actors,
        }
    }

    /// A host in the middle of a gradual upgrade: 1,000 accounts, 3 of them
    /// under a supervisor, one in a slow handler.
    fn status_example() -> Output {
        let mut actors: Vec<ActorView> = (2..=1001)
            .map(|id| ActorView {
                id,
                module: Some("billing".into()),
                version: Some(if id <= 101 { "1.1.0" } else { "1.0.0" }.into()),
                state: if id == 2 { "running" } else { "idle" }.into(),
                mailbox: usize::from(id == 2) * 3,
                handled: 12,
                name: None,
            })
            .collect();
        actors.insert(
            0,
            ActorView {
                id: 1,
                module: None,
                version: None,
                state: "idle".into(),
                mailbox: 0,
                handled: 0,
                name: None,
            },
        );
        let children = (0..3)
            .map(|i| ChildView {
                id: format!("ledger-{i}"),
                actor: Some(999 + i),
                kind: "worker".into(),
                modules: vec!["billing".into()],
                restarts: [0, 2, 0][i as usize],
            })
            .collect();
        Output::Status {
            modules: vec![ModuleView {
                name: "billing".into(),
                current: version("1.1.0", 'b', 100),
                old: Some(version("1.0.0", 'a', 900)),
                file_changed: false,
                canaries: Some(100),
            }],
            actors,
            trees: vec![TreeView { actor: 1, strategy: "OneForOne".into(), children }],
            workers: 2,
            configs: vec![],
            // issue 17: functions
            functions: vec![FunctionView {
                module: "billing".into(),
                function: "quote".into(),
                version: Some("1.0.0".into()),
                canary: Some("1.1.0".into()),
                share: Some(10),
                calls: 48_210,
            }],
        }
    }

    fn history_example() -> Output {
        let entry = |at, action: &str, from: Option<&str>, to: Option<&str>| HistoryView {
            at,
            module: "billing".into(),
            action: action.into(),
            from: from.map(Into::into),
            to: to.map(Into::into),
            hash: Some("a".repeat(64)),
            source: Some("/srv/billing/libbilling-1.0.0.so".into()),
            refused: None,
            duration_us: 900,
        };
        let mut refused = entry(1_796_000_100, "upgrade", None, None);
        refused.hash = None;
        refused.source = Some("/srv/billing/libbilling-next.so".into());
        refused.refused = Some(
            "/srv/billing/libbilling-next.so: built for module ABI 2, this host speaks 3".into(),
        );
        let mut upgrade = entry(1_796_000_160, "upgrade", Some("1.0.0"), Some("1.1.0"));
        upgrade.hash = Some("b".repeat(64));
        upgrade.source = Some("/srv/billing/libbilling-1.1.0.so".into());
        let mut bad = entry(1_796_000_400, "markbad", None, Some("1.1.0"));
        bad.hash = upgrade.hash.clone();
        bad.source = upgrade.source.clone();
        Output::History {
            entries: vec![entry(1_796_000_000, "load", None, Some("1.0.0")), refused, upgrade, bad],
        }
    }

    // issue 17: typed configuration, hot-reloaded
    fn config_example() -> Vec<ConfigView> {
        vec![
            ConfigView {
                path: "/srv/billing/limits.toml".into(),
                format: "toml".into(),
                revision: 3,
                applied_at: 1_796_000_000,
                last_error: Some(
                    "/srv/billing/limits.toml: refused by validation: max_sessions must be at least 1"
                        .into(),
                ),
                last_error_at: Some(1_796_000_160),
            },
            ConfigView {
                path: "/srv/billing/prices.yaml".into(),
                format: "yaml".into(),
                revision: 1,
                applied_at: 1_796_000_000,
                last_error: None,
                last_error_at: None,
            },
        ]
    }

    /// The examples docs/cli.md shows, rendered as the CLI renders them.
    fn examples() -> Vec<(String, String)> {
        let zone = jiff::tz::TimeZone::fixed(jiff::tz::offset(1));
        let status = status_example();
        let Output::History { entries } = history_example() else { unreachable!() };
        let show = |actors, module: Option<&str>, limit| Show {
            actors,
            module: module.map(Into::into),
            limit,
        };
        vec![
            ("$ relive status".into(), human(&status, &Show::default())),
            (
                "$ relive status --module billing --limit 3".into(),
                human(&status, &show(true, Some("billing"), Some(3))),
            ),
            ("$ relive history".into(), history(&entries, &zone)),
            ("$ relive config".into(), config(&config_example(), &zone)),
        ]
    }

    /// On a mismatch it prints the block docs/cli.md should hold, verbatim.
    #[test]
    fn the_examples_in_docs_cli_md_are_what_the_cli_prints() {
        let doc = include_str!("../../docs/cli.md");
        for (command, out) in examples() {
            let block = format!("{command}\n{out}");
            assert!(doc.contains(&block), "docs/cli.md lacks, verbatim:\n{block}");
        }
    }

    #[test]
    fn a_summary_at_1000_actors_is_short() {
        let out = human(&status_example(), &Show::default());
        assert!(out.lines().count() < 20, "{out}");
        assert!(out.contains("actors: 1001 (1 running, 1000 idle);"), "{out}");
        assert!(out.contains("3 children, 3 running, 2 restarts (most: ledger-1 2)"), "{out}");
    }

    #[test]
    fn history_times_are_local_with_their_offset() {
        let zone = jiff::tz::TimeZone::fixed(jiff::tz::offset(-7));
        let Output::History { entries } = history_example() else { unreachable!() };
        let out = history(&entries, &zone);
        // 1_796_000_000 is 2026-11-30 00:53:20 UTC.
        assert!(out.contains("2026-11-29 17:53:20 -07:00  billing"), "{out}");
        assert!(out.contains("upgrade REFUSED"), "{out}");
        assert!(out.contains("    reason: /srv/billing/libbilling-next.so: built for"), "{out}");
    }
}
