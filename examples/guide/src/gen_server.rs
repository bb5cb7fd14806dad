//! docs/guide.md, "gen_server behaviour": stopping, cleanup, links,
//! monitors and timers in a module.

use relive_sdk::prelude::*;
use relive_sdk::{MonitorRef, TimerRef};
use std::time::Duration;

/// The server's start arguments.
#[data]
#[derive(Debug)]
pub struct Args {
    /// Start nothing (OTP's `ignore`).
    pub disabled: bool,
}

/// What the server is sent.
#[data]
#[derive(Debug)]
pub enum Msg {
    /// Stop normally, after replying.
    Quit,
    /// Monitor this actor.
    Watch(u64),
    /// Stay alive while pinged.
    Ping,
    /// Send a `Tick` after this many milliseconds.
    Remind(u64),
    /// The reminder.
    Tick,
}

/// What it answers.
#[data]
#[derive(Debug)]
pub enum Reply {
    /// Done.
    Ok,
    /// A monitor's reference (0: none).
    Ref(u64),
}

/// A gen_server-like module.
#[data]
#[derive(Debug)]
pub struct Server {
    timer: Option<TimerRef>,
    flushed: u64,
}

impl Server {
    fn new(_: Args) -> Self {
        Server { timer: None, flushed: 0 }
    }

    fn flush(&mut self) {
        self.flushed += 1;
    }
}

// The guide shows these callbacks as compactly as a slide.
#[rustfmt::skip]
#[allow(unused_variables)]
impl Module for Server {
    const NAME: &'static str = "server";
    type Args = Args;
    type Msg = Msg;
    type Reply = Reply;

    fn init(args: Args, _: &mut Context<'_>) -> Result<Self, ModuleError> {
        if args.disabled { return Err(ModuleError::ignore()) } // OTP's `ignore`
        Ok(Server::new(args))
    }

    fn handle(&mut self, msg: Msg, ctx: &mut Context<'_>) -> Reply {
        match msg {
            // {stop, normal, ok, State}: the reply goes first, then terminate.
            Msg::Quit => { let _ = ctx.stop(ExitReason::Normal); Reply::Ok }
            Msg::Watch(id) => Reply::Ref(ctx.monitor(id).map(|r| r.0).unwrap_or(0)),
            // {reply, ok, State, 5000}: on_timeout if nothing comes for 5 s.
            Msg::Ping => { let _ = ctx.idle_timeout(Some(Duration::from_secs(5))); Reply::Ok }
            // erlang:send_after/3 and cancel_timer/1.
            Msg::Remind(ms) => { self.timer = ctx.send_after(Duration::from_millis(ms), ctx.self_id().unwrap(), &Msg::Tick).ok(); Reply::Ok }
            Msg::Tick => Reply::Ok,
        }
    }

    // Runs once on every stop but a kill (within the host's kill timeout).
    fn terminate(&mut self, reason: &ExitReason, _: &mut Context<'_>) { self.flush(); }
    fn on_exit(&mut self, from: u64, reason: &ExitReason, _: &mut Context<'_>) {} // after ctx.trap_exit(true)
    fn on_down(&mut self, r: MonitorRef, who: u64, reason: &ExitReason, _: &mut Context<'_>) {}
    fn on_timeout(&mut self, _: &mut Context<'_>) {}
}
