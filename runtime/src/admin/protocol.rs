//! The admin protocol: one JSON object per line each way.
//!
//! A client sends a [`Request`]; the host answers with zero or more
//! [`Response::Progress`] lines (while actors migrate) and then exactly one
//! [`Response::Done`] or [`Response::Error`]. Every request is answered, a
//! garbled one included. `version` is [`PROTOCOL_VERSION`]; a host refuses
//! other versions with an error answer.

use serde::{Deserialize, Serialize};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// One request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// [`PROTOCOL_VERSION`].
    pub version: u32,
    /// What to do.
    pub command: Command,
}

/// How an upgrade moves the actors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// All at once or none.
    Atomic,
    /// A canary share first.
    Gradual {
        /// Canary actors (count), or…
        count: Option<usize>,
        /// …a percentage.
        percent: Option<u32>,
    },
}

/// The commands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Modules, versions, actor counts, supervisors.
    Status,
    /// Upgrade `module` to the library at `path`.
    Upgrade {
        /// The module.
        module: String,
        /// The library (a path on the host's machine).
        path: String,
        /// Atomic or gradual.
        mode: Mode,
        /// The suspend timeout in milliseconds (default 5000).
        timeout_ms: Option<u64>,
        /// Load a bad or same-version build anyway.
        force: bool,
        /// Stop actors still on `old`.
        purge: bool,
    },
    /// Finish a gradual upgrade.
    Promote {
        /// The module.
        module: String,
    },
    /// Cancel a gradual upgrade.
    Abort {
        /// The module.
        module: String,
        // issue 15: interfaces that grow
        /// Even when the canaries were handed a message variant the old
        /// version lacks (absent in an older client's request: `false`).
        #[serde(default)]
        force: bool,
    },
    /// Make `old` current again.
    Rollback {
        /// The module.
        module: String,
        // issue 15: interfaces that grow
        /// Even to a version lacking a message variant callers used
        /// (absent in an older client's request: `false`).
        #[serde(default)]
        force: bool,
    },
    /// Drop `old` (`soft`: only if no actor runs it).
    Purge {
        /// The module.
        module: String,
        /// Refuse if actors run `old`.
        soft: bool,
    },
    /// Both versions of a module.
    Which {
        /// The module.
        module: String,
    },
    /// The upgrade history (of one module, or all).
    History {
        /// The module, or all.
        module: Option<String>,
    },
    // issue 14: sys — `actor` is an id (`12` or `<12>`) or a registered name.
    /// An actor's state as JSON (OTP's `sys:get_state`), or, with
    /// `replace`, replace it first (OTP's `sys:replace_state`).
    State {
        /// The actor.
        actor: String,
        /// A new state, as JSON text, for the module to decode and validate.
        replace: Option<String>,
    },
    /// Suspend an actor (OTP's `sys:suspend`).
    Suspend {
        /// The actor.
        actor: String,
    },
    /// Resume an actor (OTP's `sys:resume`).
    Resume {
        /// The actor.
        actor: String,
    },
    /// An actor's counters (OTP's `sys:statistics`).
    Stats {
        /// The actor.
        actor: String,
    },
    /// Trace an actor's messages in and out: start tracing (keeping the
    /// last `count` events, default 10) or resize, and answer the events so
    /// far; with `off`, stop tracing (OTP's `sys:log`).
    Trace {
        /// The actor.
        actor: String,
        /// Events to keep.
        count: Option<usize>,
        /// Stop tracing instead.
        off: bool,
    },
    // end issue 14: sys
    // issue 15: dependencies
    /// Upgrade several modules as one unit (`CodeServer::upgrade_all`):
    /// ordered callees first, every actor of every module migrates or none.
    UpgradeAll {
        /// `(module, library path)` pairs.
        modules: Vec<(String, String)>,
        /// The suspend timeout in milliseconds (default 5000).
        timeout_ms: Option<u64>,
        /// Load a bad or same-version build anyway.
        force: bool,
        /// Stop actors still on `old`.
        purge: bool,
    },
    // end issue 15: dependencies
    // issue 16: observer — absent from an older host (it answers
    // `BadRequest`); `after` absent: from the oldest event kept.
    /// The host's events from number `after` on, those it still keeps
    /// first; when there are none yet, wait up to `wait_ms` (default 0, at
    /// most [`MAX_EVENTS_WAIT_MS`]) for the next one. A viewer long-polls
    /// with the `next` of each answer as the next `after`.
    Events {
        /// The first event number wanted (`0` or `1`: all kept).
        #[serde(default)]
        after: u64,
        /// How long to wait for an event when none is there, in ms.
        #[serde(default)]
        wait_ms: Option<u64>,
    },
    // end issue 16: observer
    // issue 17: typed configuration, hot-reloaded
    /// The host's configurations: file, revision, last error.
    Config,
    // issue 16: metrics
    /// The host's metrics in the Prometheus text format
    /// (`HostHandle::metrics_text`; an older host answers `BadRequest`).
    Metrics,
}

// issue 17: typed configuration, hot-reloaded
/// One configuration as the admin protocol shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigView {
    /// The file (absolute).
    pub path: String,
    /// `toml`, `json` or `yaml`.
    pub format: String,
    /// Configurations applied so far (1: the one read at start).
    pub revision: u64,
    /// When the one in force was applied, in seconds since the Unix epoch.
    pub applied_at: u64,
    /// The last refusal since then (the old configuration stayed in force).
    pub last_error: Option<String>,
    /// When, in seconds since the Unix epoch.
    pub last_error_at: Option<u64>,
}

// issue 16: observer
/// The longest an [`Command::Events`] request waits for an event (it holds
/// the connection's thread meanwhile).
pub const MAX_EVENTS_WAIT_MS: u64 = 5_000;

/// Events returned by one [`Command::Events`] answer, at most.
pub const MAX_EVENTS_PER_ANSWER: usize = 512;

/// One host event as the admin protocol shows it (the fields a kind does
/// not have are `None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventView {
    /// Its number in the host's order.
    pub seq: u64,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// `loaded`, `upgraded`, `migrated`, `rolled_back`, `purged`,
    /// `unloaded`, `resident`, `marked_bad`, `refused`, `crashed`,
    /// `restarted` or `escalated`.
    pub kind: String,
    /// The module concerned.
    #[serde(default)]
    pub module: Option<String>,
    /// The version before.
    #[serde(default)]
    pub from: Option<String>,
    /// The version concerned (after).
    #[serde(default)]
    pub to: Option<String>,
    /// The build concerned (hex hash).
    #[serde(default)]
    pub hash: Option<String>,
    /// The supervisor's actor (supervisor events).
    #[serde(default)]
    pub supervisor: Option<u64>,
    /// The child's id in its supervisor's spec.
    #[serde(default)]
    pub child: Option<String>,
    /// The actor concerned (crashed, restarted).
    #[serde(default)]
    pub actor: Option<u64>,
    /// Actors concerned (migrated), instances (purged), or the revision
    /// applied (config_applied).
    #[serde(default)]
    pub count: Option<usize>,
    /// Why (crash reasons, refusals, escalations, residencies), or what was
    /// refused; for a configuration, its file (and why it was refused).
    #[serde(default)]
    pub reason: Option<String>,
}
// end issue 16: observer

/// One version as the admin protocol shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionView {
    /// Semver.
    pub version: String,
    /// Build hash (hex).
    pub hash: String,
    /// The file it was loaded from (or `static:<module>`).
    pub source: String,
    /// Live actors on it, from the host's index of actors by version (no
    /// actor is locked to count them).
    pub actors: usize,
}

/// One module in a status answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleView {
    /// The module.
    pub name: String,
    /// Its current version.
    pub current: VersionView,
    /// Its old version.
    pub old: Option<VersionView>,
    /// Whether the file on disk differs from the current build.
    pub file_changed: bool,
    // issue 20: cli
    /// A gradual upgrade to `current` in progress: how many canaries went
    /// first (`None`: no gradual upgrade; absent from an older host: `None`).
    #[serde(default)]
    pub canaries: Option<usize>,
}

// issue 17: functions
/// One stateless function in a status answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionView {
    /// The module exporting it.
    pub module: String,
    /// The function.
    pub function: String,
    /// The version serving its calls (during a gradual upgrade, the old
    /// one); `None` when no loaded version exports it any more.
    pub version: Option<String>,
    /// During a gradual upgrade: the new version, which serves `share`
    /// percent of the calls.
    pub canary: Option<String>,
    /// The new version's share of calls, in percent (with `canary`).
    pub share: Option<u32>,
    /// Calls made through the host's handles so far.
    pub calls: u64,
}

/// One actor in a status answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorView {
    /// Its id.
    pub id: u64,
    /// Its module (`None`: host-native, e.g. a supervisor).
    pub module: Option<String>,
    /// Its version (module actors).
    pub version: Option<String>,
    /// `idle`, `running`, `suspended` (held by an upgrade, or by `sys`) or
    /// `exited`.
    pub state: String,
    /// Mail waiting.
    pub mailbox: usize,
    /// Messages handled.
    pub handled: u64,
    /// Registered name.
    pub name: Option<String>,
}

/// One child of a supervisor in a status answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildView {
    /// The child's id in its supervisor.
    pub id: String,
    /// Its actor, when running.
    pub actor: Option<u64>,
    /// `worker` or `supervisor`.
    pub kind: String,
    /// The modules it runs.
    pub modules: Vec<String>,
    /// How often its supervisor restarted it.
    pub restarts: u32,
}

/// One supervisor in a status answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeView {
    /// The supervisor's actor.
    pub actor: u64,
    /// Its strategy.
    pub strategy: String,
    /// Its children, in start order.
    pub children: Vec<ChildView>,
}

/// What a command produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Output {
    /// For `Status`.
    Status {
        /// Loaded modules.
        modules: Vec<ModuleView>,
        /// Every live actor, in id order (`relive status` shows a summary
        /// and lists them only when asked; `--json` prints them all).
        actors: Vec<ActorView>,
        /// Supervision trees.
        trees: Vec<TreeView>,
        /// Worker threads.
        workers: usize,
        // issue 17: typed configuration, hot-reloaded
        /// The host's configurations (absent from an older host: none).
        #[serde(default)]
        configs: Vec<ConfigView>,
        // issue 17: functions
        /// The stateless functions the loaded modules export (absent from
        /// an older host: none).
        #[serde(default)]
        functions: Vec<FunctionView>,
    },
    /// For `Upgrade`, `Promote`, `Abort`, `Rollback`.
    Migration {
        /// The module(s).
        modules: Vec<String>,
        /// The new current version.
        to: Option<String>,
        /// Actors moved.
        migrated: usize,
        /// Actors restored from their upgrade snapshot.
        restored_from_snapshot: usize,
        /// Actors still on the old version (gradual).
        remaining: usize,
        /// Failures, as text.
        failed: Vec<String>,
        /// Total time in microseconds.
        duration_us: u64,
        /// Longest pause of any actor, in microseconds.
        longest_pause_us: u64,
    },
    /// For `Purge`.
    Purged {
        /// The version dropped, if any.
        purged: Option<String>,
    },
    /// For `Which`.
    Which {
        /// The module.
        module: ModuleView,
    },
    /// For `History`.
    History {
        /// One line per entry, oldest first.
        entries: Vec<HistoryView>,
    },
    // issue 14: sys
    /// For `State`.
    State {
        /// The actor's id.
        actor: u64,
        /// Its state as JSON text (as its module renders it).
        state: String,
    },
    /// For `Suspend` and `Resume`.
    Suspended {
        /// The actor's id.
        actor: u64,
        /// Whether it is suspended now.
        suspended: bool,
    },
    /// For `Stats`.
    Stats {
        /// The actor's id.
        actor: u64,
        /// Messages handled.
        messages_in: u64,
        /// Replies and sends.
        messages_out: u64,
        /// Turns run.
        turns: u64,
        /// Mail waiting.
        mailbox: usize,
        /// Whether it is suspended.
        suspended: bool,
    },
    /// For `Trace`.
    Trace {
        /// The actor's id.
        actor: u64,
        /// Whether it is traced now.
        tracing: bool,
        /// The events kept, oldest first.
        events: Vec<TraceEventView>,
    },
    // end issue 14: sys
    // issue 16: observer
    /// For `Events`.
    Events {
        /// The events, oldest first.
        events: Vec<EventView>,
        /// The `after` to ask with next.
        next: u64,
        /// Events wanted that the host no longer kept.
        missed: u64,
    },
    // issue 17: typed configuration, hot-reloaded
    /// For `Config`.
    Config {
        /// Every configuration of the host, in the order they were opened.
        configs: Vec<ConfigView>,
    },
    // issue 16: metrics
    /// For `Metrics`.
    Metrics {
        /// The Prometheus text format (version 0.0.4), as `/metrics` serves it.
        text: String,
    },
}

// issue 14: sys
/// One traced event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceEventView {
    /// Its position in the trace (gaps: events the ring let go).
    pub seq: u64,
    /// `cast` or `call` (in), `reply` (out).
    pub kind: String,
    /// The message or reply as JSON text.
    pub message: String,
}

/// One history entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryView {
    /// Seconds since the Unix epoch.
    pub at: u64,
    /// The module.
    pub module: String,
    /// The action.
    pub action: String,
    /// Version before.
    pub from: Option<String>,
    /// Version concerned.
    pub to: Option<String>,
    // issue 20: cli — absent from an older host: `None`.
    /// The build concerned (hex hash), when known.
    #[serde(default)]
    pub hash: Option<String>,
    /// The file concerned (`static` for a module linked into the host),
    /// when known.
    #[serde(default)]
    pub source: Option<String>,
    /// Why it was refused, if it was.
    pub refused: Option<String>,
    /// Duration in microseconds.
    pub duration_us: u64,
}

/// Kinds of error answers (a script's exit code follows from them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorKind {
    /// The request could not be parsed, or had another protocol version.
    BadRequest,
    /// The peer is not the host's user.
    PermissionDenied,
    /// The host refused (a load error, nothing to roll back…); nothing changed.
    Refused,
    /// No such module.
    NotFound,
}

/// One answer line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// Actors migrated so far.
    Progress {
        /// Done.
        done: usize,
        /// Of.
        total: usize,
    },
    /// The command's result.
    Done(Output),
    /// Why the command did not happen.
    Error {
        /// The kind.
        kind: ErrorKind,
        /// The reason, in words.
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::Command;

    // issue 17: typed configuration, hot-reloaded
    #[test]
    fn a_status_from_an_older_host_has_no_configs_nor_functions_and_config_round_trips() {
        let old = r#"{"Status":{"modules":[],"actors":[],"trees":[],"workers":2}}"#;
        let out: super::Output = serde_json::from_str(old).unwrap();
        assert_eq!(
            out,
            super::Output::Status {
                modules: vec![],
                actors: vec![],
                trees: vec![],
                workers: 2,
                configs: vec![],
                functions: vec![],
            }
        );
        let c: Command = serde_json::from_str(r#""Config""#).unwrap();
        assert_eq!(c, Command::Config);
    }

    // issue 15: interfaces that grow
    #[test]
    fn a_rollback_request_from_an_older_client_is_not_forced() {
        let old: Command = serde_json::from_str(r#"{"Rollback":{"module":"counter"}}"#).unwrap();
        assert_eq!(old, Command::Rollback { module: "counter".into(), force: false });
        let old: Command = serde_json::from_str(r#"{"Abort":{"module":"counter"}}"#).unwrap();
        assert_eq!(old, Command::Abort { module: "counter".into(), force: false });
        let forced = Command::Rollback { module: "counter".into(), force: true };
        let back: Command = serde_json::from_str(&serde_json::to_string(&forced).unwrap()).unwrap();
        assert_eq!(back, forced);
    }
}
