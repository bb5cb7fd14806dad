//! A module that behaves as an OTP gen_server test server (test fixture):
//! it stops itself with a reason, reports its `terminate` to a witness
//! actor, can decline to start, and links, monitors and traps exits on
//! request, recording what it is told.

use postcard_schema::Schema;
use relive_sdk::{Context, ExitReason, Module, ModuleError, MonitorRef, TimerRef};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How `init` ends.
#[derive(Debug, Clone, Serialize, Deserialize, Schema)]
pub enum InitMode {
    /// Start.
    Run,
    /// Decline to start (OTP's `ignore`).
    Ignore,
    /// Fail with this message (OTP's `{stop, Reason}`).
    Fail(String),
}

/// What `terminate` does after reporting to the witness.
#[derive(Debug, Clone, Serialize, Deserialize, Schema)]
pub enum TermMode {
    /// Nothing more.
    Record,
    /// Panic.
    Panic,
    /// Sleep this many milliseconds (a slow cleanup).
    Sleep(u64),
}

/// Init arguments.
#[derive(Debug, Clone, Serialize, Deserialize, Schema)]
pub struct GsArgs {
    /// The registered name of the actor `terminate` reports to.
    pub witness: Option<String>,
    /// How `init` ends.
    pub init: InitMode,
    /// What `terminate` does.
    pub term: TermMode,
}

impl GsArgs {
    /// A server that starts and reports its terminate to `witness`.
    pub fn reporting_to(witness: &str) -> Self {
        GsArgs { witness: Some(witness.into()), init: InitMode::Run, term: TermMode::Record }
    }

    /// A server that starts and reports to no one.
    pub fn plain() -> Self {
        GsArgs { witness: None, init: InitMode::Run, term: TermMode::Record }
    }
}

/// A stop reason, as the test asks for it.
#[derive(Debug, Clone, Serialize, Deserialize, Schema)]
pub enum Why {
    /// `normal`.
    Normal,
    /// `shutdown`.
    Shutdown,
    /// `{shutdown, Info}`.
    ShutdownWith(String),
    /// A reason of its own.
    Custom(String),
}

/// What the server is asked.
#[derive(Debug, Clone, Serialize, Deserialize, Schema)]
pub enum GsMsg {
    /// Answer the value.
    Echo(u64),
    /// Record an event (the witness's inbox).
    Record(String),
    /// Answer the recorded events.
    Events,
    /// Stop with `why` after answering `reply` (OTP's `{stop, R, Reply, S}`).
    Stop {
        /// The reason.
        why: Why,
        /// The answer.
        reply: u64,
    },
    /// Panic.
    Crash,
    /// Link to an actor.
    Link(u64),
    /// Unlink from an actor.
    Unlink(u64),
    /// Monitor an actor; answers the reference.
    Monitor(u64),
    /// Monitor a registered name; answers the reference.
    MonitorNamed(String),
    /// Remove a monitor.
    Demonitor(u64),
    /// Sleep `ms`, then remove monitor `mref` (its down, queued meanwhile,
    /// must not arrive: OTP's `demonitor(R, [flush])`).
    DemonitorAfter {
        /// The monitor.
        mref: u64,
        /// How long to sleep first.
        ms: u64,
    },
    /// Set trap_exit; answers the previous setting (1 or 0).
    TrapExit(bool),
    /// Cast `Record(text)` to actor `to` after `ms`; answers the timer.
    SendAfter {
        /// Target id.
        to: u64,
        /// Delay.
        ms: u64,
        /// What the target records.
        text: String,
    },
    /// Cast `Record(text)` to whoever has `name` after `ms`; the timer.
    SendAfterNamed {
        /// Target name, resolved when the timer fires.
        name: String,
        /// Delay.
        ms: u64,
        /// What the target records.
        text: String,
    },
    /// Cancel a timer; answers the milliseconds it had left.
    CancelTimer(u64),
    /// Read a timer; answers the milliseconds it has left.
    ReadTimer(u64),
    /// Enter the `call_within` state with an idle timeout of `ms`
    /// (gen_server's `{reply, ok, call_within, T}`).
    CallWithin(u64),
    /// Answer whether the server is still in the `call_within` state.
    NextCall,
    /// Set an idle timeout of `ms` that `on_timeout` sets again, `times`
    /// times in all (gen_server's `handle_info(timeout)` returning
    /// `{noreply, S, T}`).
    Repeat {
        /// The idle timeout.
        ms: u64,
        /// How many timeouts in all.
        times: u64,
    },
}

/// The server's answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub enum GsReply {
    /// A number.
    Value(u64),
    /// The recorded events.
    Events(Vec<String>),
    /// Done.
    Ok,
    /// A host service refused.
    Err(String),
    /// The time a timer has left, if it is armed.
    Left(Option<u64>),
}

/// The server's state.
#[derive(Debug, Serialize, Deserialize, Schema)]
pub struct GenServer {
    witness: Option<String>,
    term: TermMode,
    events: Vec<String>,
    within: bool,
    repeat: Option<(u64, u64)>,
}

fn done<T>(r: Result<T, relive_sdk::HostError>, ok: impl FnOnce(T) -> GsReply) -> GsReply {
    match r {
        Ok(v) => ok(v),
        Err(e) => GsReply::Err(e.to_string()),
    }
}

impl Module for GenServer {
    const NAME: &'static str = "gen_server";
    type Args = GsArgs;
    type Msg = GsMsg;
    type Reply = GsReply;

    fn init(args: GsArgs, _: &mut Context<'_>) -> Result<Self, ModuleError> {
        match args.init {
            InitMode::Run => Ok(GenServer {
                witness: args.witness,
                term: args.term,
                events: Vec::new(),
                within: false,
                repeat: None,
            }),
            InitMode::Ignore => Err(ModuleError::ignore()),
            InitMode::Fail(why) => Err(ModuleError::new(why)),
        }
    }

    fn handle(&mut self, msg: GsMsg, ctx: &mut Context<'_>) -> GsReply {
        match msg {
            GsMsg::Echo(n) => GsReply::Value(n),
            GsMsg::Record(e) => {
                self.events.push(e);
                GsReply::Ok
            }
            GsMsg::Events => GsReply::Events(self.events.clone()),
            GsMsg::Stop { why, reply } => {
                let reason = match why {
                    Why::Normal => ExitReason::Normal,
                    Why::Shutdown => ExitReason::Shutdown,
                    Why::ShutdownWith(s) => ExitReason::ShutdownWith(s),
                    Why::Custom(s) => ExitReason::Custom(s),
                };
                done(ctx.stop(reason), |()| GsReply::Value(reply))
            }
            GsMsg::Crash => panic!("crash in handle"),
            GsMsg::Link(id) => done(ctx.link(id), |()| GsReply::Ok),
            GsMsg::Unlink(id) => done(ctx.unlink(id), |()| GsReply::Ok),
            GsMsg::Monitor(id) => done(ctx.monitor(id), |r| GsReply::Value(r.0)),
            GsMsg::MonitorNamed(name) => done(ctx.monitor_named(&name), |r| GsReply::Value(r.0)),
            GsMsg::Demonitor(r) => done(ctx.demonitor(MonitorRef(r)), |()| GsReply::Ok),
            GsMsg::DemonitorAfter { mref, ms } => {
                if let Some(w) = &self.witness {
                    let _ = ctx.send_named(w, &GsMsg::Record("demonitoring soon".into()));
                }
                std::thread::sleep(Duration::from_millis(ms));
                done(ctx.demonitor(MonitorRef(mref)), |()| GsReply::Ok)
            }
            GsMsg::TrapExit(on) => done(ctx.trap_exit(on), |old| GsReply::Value(u64::from(old))),
            GsMsg::SendAfter { to, ms, text } => {
                let t = ctx.send_after(Duration::from_millis(ms), to, &GsMsg::Record(text));
                done(t, |t| GsReply::Value(t.0))
            }
            GsMsg::SendAfterNamed { name, ms, text } => {
                let delay = Duration::from_millis(ms);
                let t = ctx.send_after_named(delay, &name, &GsMsg::Record(text));
                done(t, |t| GsReply::Value(t.0))
            }
            GsMsg::CancelTimer(t) => GsReply::Left(
                ctx.cancel_timer(TimerRef(t)).map(|d| u64::try_from(d.as_millis()).unwrap()),
            ),
            GsMsg::ReadTimer(t) => GsReply::Left(
                ctx.read_timer(TimerRef(t)).map(|d| u64::try_from(d.as_millis()).unwrap()),
            ),
            GsMsg::CallWithin(ms) => {
                self.within = true;
                done(ctx.idle_timeout(Some(Duration::from_millis(ms))), |()| GsReply::Ok)
            }
            GsMsg::NextCall => GsReply::Value(u64::from(self.within)),
            GsMsg::Repeat { ms, times } => {
                self.repeat = Some((ms, times));
                done(ctx.idle_timeout(Some(Duration::from_millis(ms))), |()| GsReply::Ok)
            }
        }
    }

    fn terminate(&mut self, reason: &ExitReason, ctx: &mut Context<'_>) {
        if let Some(w) = &self.witness {
            let _ = ctx.send_named(w, &GsMsg::Record(format!("terminate {reason}")));
        }
        match self.term {
            TermMode::Record => {}
            TermMode::Panic => panic!("crash in terminate"),
            TermMode::Sleep(ms) => std::thread::sleep(Duration::from_millis(ms)),
        }
    }

    fn on_exit(&mut self, from: u64, reason: &ExitReason, _: &mut Context<'_>) {
        self.events.push(format!("exit {from} {reason}"));
    }

    fn on_down(&mut self, mref: MonitorRef, who: u64, reason: &ExitReason, _: &mut Context<'_>) {
        self.events.push(format!("down {} {who} {reason}", mref.0));
    }

    fn on_timeout(&mut self, ctx: &mut Context<'_>) {
        self.within = false;
        self.events.push("timeout".into());
        if let Some(w) = &self.witness {
            let _ = ctx.send_named(w, &GsMsg::Record("timeout".into()));
        }
        if let Some((ms, times)) = self.repeat
            && times > 1
        {
            self.repeat = Some((ms, times - 1));
            let _ = ctx.idle_timeout(Some(Duration::from_millis(ms)));
        }
    }
}

relive_sdk::export_module!(GenServer);
