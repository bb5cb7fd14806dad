//! A module that sends `grow` messages of both releases to another actor
//! through the host (test fixture for interfaces that grow: a module names
//! its message type by fingerprint only).

use grow_api::{v1, v2};
use relive_sdk::{Context, Module, ModuleError};
use serde::{Deserialize, Serialize};

/// What to send.
#[derive(Debug, Serialize, Deserialize, postcard_schema::Schema)]
pub enum CallerMsg {
    /// Cast release 1's `Add(n)` to `to`.
    AddV1 {
        /// Target id.
        to: u64,
        /// Amount.
        n: u64,
    },
    /// Cast release 2's `Reset` to `to`.
    ResetV2 {
        /// Target id.
        to: u64,
    },
}

/// The module (no state).
#[derive(Debug, Serialize, Deserialize, postcard_schema::Schema)]
pub struct GrowCaller;

impl Module for GrowCaller {
    const NAME: &'static str = "grow_caller";
    type Args = ();
    type Msg = CallerMsg;
    /// `"ok"`, or the host's refusal.
    type Reply = String;

    fn init((): (), _: &mut Context<'_>) -> Result<Self, ModuleError> {
        Ok(GrowCaller)
    }

    fn handle(&mut self, msg: CallerMsg, ctx: &mut Context<'_>) -> String {
        let sent = match msg {
            CallerMsg::AddV1 { to, n } => ctx.send(to, &v1::Msg::Add(n)),
            CallerMsg::ResetV2 { to } => ctx.send(to, &v2::Msg::Reset),
        };
        match sent {
            Ok(()) => "ok".to_owned(),
            Err(e) => e.to_string(),
        }
    }
}

relive_sdk::export_module!(GrowCaller);
