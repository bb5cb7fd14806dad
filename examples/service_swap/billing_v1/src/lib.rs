//! Billing v1: every order is charged its amount, written to the ledger
//! through the host's `ledger` port; the caller is answered once the write
//! committed.

use billing_api::{
    BillingMsg, BillingReply, LEDGER_PORT, LedgerReceipt, LedgerWrite, PendingCharge,
};
use relive_sdk::{Context, Module, ModuleError, PortResult, ReplyToken, RequestId};
use std::time::Duration;

/// How long a ledger write may take before the charge fails.
const LEDGER_TIMEOUT: Duration = Duration::from_secs(30);

/// One account.
#[relive_sdk::data]
#[derive(Debug)]
pub struct Account {
    id: u64,
    balance: u64,
    orders: u64,
    pending: Vec<PendingCharge>,
}

impl Account {
    fn reply(&self, added: u64, charged: bool) -> BillingReply {
        BillingReply { version: 1, balance: self.balance, added, orders: self.orders, charged }
    }
}

impl Module for Account {
    const NAME: &'static str = "billing";
    type Args = u64;
    type Msg = BillingMsg;
    type Reply = BillingReply;

    fn init(id: u64, _: &mut Context<'_>) -> Result<Self, ModuleError> {
        Ok(Account { id, balance: 0, orders: 0, pending: Vec::new() })
    }

    fn handle(&mut self, msg: BillingMsg, ctx: &mut Context<'_>) -> BillingReply {
        match msg {
            BillingMsg::Charge { amount } => {
                let write = LedgerWrite { account: self.id, amount, price: amount, version: 1 };
                match ctx.request_with_timeout::<LedgerWrite, LedgerReceipt>(
                    LEDGER_PORT,
                    &write,
                    LEDGER_TIMEOUT,
                ) {
                    Ok(id) => {
                        let token = ctx.defer_reply().map_or(0, |t| t.0);
                        self.pending.push(PendingCharge {
                            request: id.0,
                            token,
                            amount,
                            price: amount,
                        });
                        self.reply(0, false)
                    }
                    Err(e) => {
                        relive_sdk::tracing::warn!(account = self.id, error = %e, "ledger refused the charge");
                        self.reply(0, false)
                    }
                }
            }
            BillingMsg::Balance => self.reply(0, false),
        }
    }

    fn on_reply(&mut self, id: RequestId, result: PortResult<'_>, ctx: &mut Context<'_>) {
        let Some(i) = self.pending.iter().position(|p| p.request == id.0) else { return };
        let p = self.pending.swap_remove(i);
        let charged = match result.decode::<LedgerReceipt>() {
            Ok(_) => {
                self.balance += p.price;
                self.orders += 1;
                true
            }
            Err(e) => {
                relive_sdk::tracing::warn!(account = self.id, error = %e, "ledger write failed");
                false
            }
        };
        if p.token != 0 {
            let reply = self.reply(if charged { p.price } else { 0 }, charged);
            let _ = ctx.reply(ReplyToken(p.token), &reply);
        }
    }
}

relive_sdk::export_module!(Account);
