//! A module that reaches other actors through the host's services (test
//! fixture): it forwards `Add`s to counters by id or name, now or later,
//! spawns counters, and says who it is; it can also flood itself (each
//! `Flood` sends two more to itself) and count the sends the host refuses.

use counter_api::CounterMsg;
use postcard_schema::Schema;
use relive_sdk::{Context, HostError, Module, ModuleError, ReplyToken};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What the relay is asked to do.
#[derive(Debug, Serialize, Deserialize, Schema)]
pub enum RelayMsg {
    /// Cast `Add(n)` to actor `to`.
    Forward {
        /// Target id.
        to: u64,
        /// Amount.
        n: u64,
    },
    /// Cast `Add(n)` to the actor registered as `name`.
    ForwardNamed {
        /// Target name.
        name: String,
        /// Amount.
        n: u64,
    },
    /// Cast `Add(n)` to `to` after `ms` milliseconds.
    Later {
        /// Target id.
        to: u64,
        /// Amount.
        n: u64,
        /// Delay.
        ms: u64,
    },
    /// Spawn a counter starting at `start`; answer its id.
    SpawnCounter {
        /// Its start value.
        start: u64,
    },
    /// Send a message of the wrong type to `to`.
    WrongType {
        /// Target id.
        to: u64,
    },
    /// Answer this actor's own id.
    WhoAmI,
    /// Do not answer now: keep the reply for `Release`.
    Hold,
    /// Answer the held call with `value`.
    Release {
        /// The held caller's answer.
        value: u64,
    },
    /// Panic (with a held call, its caller must hear of the exit).
    Crash,
    /// Start flooding itself: every `Flood` sends two `Flood`s to this
    /// actor, until `sends` sends have been tried.
    StartFlood {
        /// Sends to try in all.
        sends: u64,
    },
    /// One message of the flood.
    Flood,
    /// Answer how many of the flood's sends were refused as
    /// [`HostError::MailboxFull`].
    FloodRefused,
}

/// The relay's state: how many sends succeeded, a held call, and the
/// flood's sends left to try and refused.
#[derive(Debug, Serialize, Deserialize, Schema)]
pub struct Relay {
    sent: u64,
    held: Option<ReplyToken>,
    flood_left: u64,
    flood_refused: u64,
}

impl Relay {
    /// Send up to two `Flood`s to itself, counting refusals for room.
    fn flood(&mut self, ctx: &mut Context<'_>) -> Result<u64, HostError> {
        let me = ctx.self_id().ok_or(HostError::NotInActor)?;
        for _ in 0..2 {
            if self.flood_left == 0 {
                break;
            }
            self.flood_left -= 1;
            match ctx.send(me, &RelayMsg::Flood) {
                Ok(()) => {}
                Err(HostError::MailboxFull) => self.flood_refused += 1,
                Err(e) => return Err(e),
            }
        }
        Ok(self.flood_refused)
    }
}

impl Module for Relay {
    const NAME: &'static str = "relay";
    type Args = ();
    type Msg = RelayMsg;
    type Reply = Result<u64, String>;

    fn init(_: (), ctx: &mut Context<'_>) -> Result<Self, ModuleError> {
        // No actor exists yet during init: the services say so.
        assert_eq!(ctx.self_id(), None);
        Ok(Relay { sent: 0, held: None, flood_left: 0, flood_refused: 0 })
    }

    fn handle(&mut self, msg: RelayMsg, ctx: &mut Context<'_>) -> Result<u64, String> {
        let result = match msg {
            RelayMsg::Forward { to, n } => ctx.send(to, &CounterMsg::Add(n)).map(|()| 0),
            RelayMsg::ForwardNamed { name, n } => {
                ctx.send_named(&name, &CounterMsg::Add(n)).map(|()| 0)
            }
            RelayMsg::Later { to, n, ms } => {
                ctx.send_after(Duration::from_millis(ms), to, &CounterMsg::Add(n)).map(|_| 0)
            }
            RelayMsg::SpawnCounter { start } => ctx.spawn("counter", &start),
            RelayMsg::WrongType { to } => ctx.send(to, &7u32).map(|()| 0),
            RelayMsg::WhoAmI => return ctx.self_id().ok_or_else(|| "no id".to_owned()),
            RelayMsg::Hold => {
                self.held = ctx.defer_reply();
                // Not sent: the caller waits for `Release`.
                return Ok(u64::MAX);
            }
            RelayMsg::Release { value } => match self.held.take() {
                Some(token) => ctx.reply(token, &Ok::<u64, String>(value)).map(|()| 1),
                None => return Err("nothing held".into()),
            },
            RelayMsg::Crash => panic!("relay crashed"),
            RelayMsg::StartFlood { sends } => {
                (self.flood_left, self.flood_refused) = (sends, 0);
                self.flood(ctx)
            }
            RelayMsg::Flood => self.flood(ctx),
            RelayMsg::FloodRefused => return Ok(self.flood_refused),
        };
        if result.is_ok() {
            self.sent += 1;
        }
        result.map_err(|e| e.to_string())
    }
}

relive_sdk::export_module!(Relay);
