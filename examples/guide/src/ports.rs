//! docs/guide.md, "Doing I/O: ports": a billing actor that writes every
//! charge through the host's `ledger` port and answers its caller once the
//! write is done.

use relive_sdk::prelude::*;
use relive_sdk::{PortResult, ReplyToken, RequestId};

/// What the billing actor asks the `ledger` port.
#[data]
#[derive(Debug, Clone)]
pub struct LedgerWrite {
    /// The account charged.
    pub account: u64,
    /// The amount.
    pub amount: u64,
}

/// The ledger's answer: the row written.
#[data]
#[derive(Debug, Clone)]
pub struct LedgerReceipt {
    /// The row's id.
    pub row: u64,
}

/// What a billing actor is sent.
#[data]
#[derive(Debug)]
pub enum Msg {
    /// Charge the account.
    Charge {
        /// How much.
        amount: u64,
    },
}

/// What it answers.
#[data]
#[derive(Debug)]
pub enum Reply {
    /// Not sent: the reply was deferred until the ledger answers.
    Deferred,
    /// Charged; the new balance.
    Charged(u64),
    /// The request could not be sent.
    Refused(String),
    /// The ledger did not write it.
    Failed(String),
}

/// A request out to the ledger, kept in the state (it survives an upgrade).
#[data]
#[derive(Debug)]
pub struct Pending {
    request: u64,
    token: u64,
    amount: u64,
}

/// One account.
#[data]
#[derive(Debug)]
pub struct Billing {
    id: u64,
    balance: u64,
    pending: Vec<Pending>,
}

// As the guide shows it, aligned comments included.
#[rustfmt::skip]
impl Module for Billing {
    const NAME: &'static str = "billing";
    type Args = u64;
    type Msg = Msg;
    type Reply = Reply;

    fn init(id: u64, _: &mut Context<'_>) -> Result<Self, ModuleError> {
        Ok(Billing { id, balance: 0, pending: Vec::new() })
    }

    // The guide shows the match arms as it would in a bigger module.
    #[allow(clippy::single_match_else)]
    fn handle(&mut self, msg: Msg, ctx: &mut Context<'_>) -> Reply {
        match msg {
            Msg::Charge { amount } => {
                let write = LedgerWrite { account: self.id, amount };
                match ctx.request::<LedgerWrite, LedgerReceipt>("ledger", &write) {
                    Ok(id) => {
                        // Kept in the state: it survives an upgrade.
                        let token = ctx.defer_reply().map_or(0, |t| t.0);
                        self.pending.push(Pending { request: id.0, token, amount });
                        Reply::Deferred           // not sent: the reply was deferred
                    }
                    Err(e) => Reply::Refused(e.to_string()),  // NoSuchPort, SchemaMismatch, …
                }
            }
        }
    }

    fn on_reply(&mut self, id: RequestId, result: PortResult<'_>, ctx: &mut Context<'_>) {
        let Some(i) = self.pending.iter().position(|p| p.request == id.0) else { return };
        let p = self.pending.swap_remove(i);
        let reply = match result.decode::<LedgerReceipt>() {
            Ok(_) => { self.balance += p.amount; Reply::Charged(self.balance) }
            // Timeout, Failed(msg), Panicked(msg), Cancelled, SchemaMismatch: values, not crashes.
            Err(e) => Reply::Failed(e.to_string()),
        };
        let _ = ctx.reply(ReplyToken(p.token), &reply);
    }
}
