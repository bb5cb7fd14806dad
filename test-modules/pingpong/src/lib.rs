//! Ping-pong (benchmark fixture, issue 19): Savina's ping-pong, one rally
//! per pair of actors. The host calls one actor of a pair with
//! [`PingPongMsg::Serve`]; that actor keeps the call's reply and sends the
//! ball to its partner; each actor that receives a ball with bounces left
//! sends it back to the actor it came from, one bounce fewer; the actor that
//! receives the ball with none left answers the kept call, with the number
//! of balls it received. An even number of bounces ends the rally at the
//! server, which is the one holding the call.

use postcard_schema::Schema;
use relive_sdk::{Context, HostError, Module, ModuleError, ReplyToken};
use serde::{Deserialize, Serialize};

/// What a ping-pong actor is told.
#[derive(Debug, Serialize, Deserialize, Schema)]
pub enum PingPongMsg {
    /// Start a rally of `bounces` messages with actor `partner` (a call:
    /// answered when the ball comes back with no bounces left).
    Serve {
        /// The other actor of the pair.
        partner: u64,
        /// The messages of the rally, the first serve included; even, so
        /// that the rally ends where it started.
        bounces: u64,
    },
    /// The ball, from actor `from`, with `left` more bounces to go.
    Ball {
        /// Who sent it: where it goes back to.
        from: u64,
        /// Bounces still to go after this one.
        left: u64,
    },
}

/// An actor's state: the balls it received and the call its rally answers.
#[derive(Debug, Serialize, Deserialize, Schema)]
pub struct PingPong {
    received: u64,
    serving: Option<ReplyToken>,
}

impl PingPong {
    fn step(&mut self, msg: PingPongMsg, ctx: &mut Context<'_>) -> Result<u64, HostError> {
        let me = ctx.self_id().ok_or(HostError::NotInActor)?;
        match msg {
            PingPongMsg::Serve { partner, bounces } => {
                self.serving = ctx.defer_reply();
                // Checked by `handle` (even, at least 2).
                ctx.send(partner, &PingPongMsg::Ball { from: me, left: bounces - 1 })?;
            }
            PingPongMsg::Ball { from, left } => {
                self.received += 1;
                if left > 0 {
                    ctx.send(from, &PingPongMsg::Ball { from: me, left: left - 1 })?;
                } else if let Some(token) = self.serving.take() {
                    ctx.reply(token, &Ok::<u64, String>(self.received))?;
                }
            }
        }
        Ok(self.received)
    }
}

impl Module for PingPong {
    const NAME: &'static str = "pingpong";
    type Args = ();
    type Msg = PingPongMsg;
    type Reply = Result<u64, String>;

    fn init(_: (), _: &mut Context<'_>) -> Result<Self, ModuleError> {
        Ok(PingPong { received: 0, serving: None })
    }

    /// A refused send (the partner gone, its mailbox past its allowance)
    /// answers the kept call with the reason, so the rally fails loudly
    /// rather than hanging its caller.
    fn handle(&mut self, msg: PingPongMsg, ctx: &mut Context<'_>) -> Result<u64, String> {
        if let PingPongMsg::Serve { bounces, .. } = msg
            && (bounces == 0 || bounces % 2 == 1)
        {
            return Err(format!("a rally of {bounces} bounces would not end at its server"));
        }
        self.step(msg, ctx).map_err(|e| {
            let why = e.to_string();
            if let Some(token) = self.serving.take() {
                let _ = ctx.reply(token, &Err::<u64, String>(why.clone()));
            }
            why
        })
    }
}

relive_sdk::export_module!(PingPong);
