//! Billing v3: v2 with a bug — an order of exactly 13 cents panics. Under
//! traffic with such orders it crash-loops, and the accounts' supervisor
//! rolls the module back. Otherwise as v2 (1 % off orders of 100 cents or
//! more, written through the `ledger` port; migrates from v1's state and
//! back).

use billing_api::{
    AccountV1, BillingMsg, BillingReply, LEDGER_PORT, LedgerReceipt, LedgerWrite, PendingCharge,
};
use relive_sdk::{
    Context, Fingerprint, Module, ModuleError, OldState, PortResult, ReplyToken, RequestId,
    StateWriter,
};
use std::time::Duration;

/// How long a ledger write may take before the charge fails.
const LEDGER_TIMEOUT: Duration = Duration::from_secs(30);

/// One account, v3.
#[relive_sdk::data]
#[derive(Debug)]
pub struct Account {
    id: u64,
    balance: u64,
    orders: u64,
    discounts: u64,
    largest: u64,
    pending: Vec<PendingCharge>,
}

impl Account {
    fn reply(&self, added: u64, charged: bool) -> BillingReply {
        BillingReply { version: 3, balance: self.balance, added, orders: self.orders, charged }
    }
}

impl Module for Account {
    const NAME: &'static str = "billing";
    type Args = u64;
    type Msg = BillingMsg;
    type Reply = BillingReply;
    const READS: &'static [Fingerprint] = &[Fingerprint::of::<AccountV1>()];
    const DOWNGRADES_TO: &'static [Fingerprint] = &[Fingerprint::of::<AccountV1>()];

    fn init(id: u64, _: &mut Context<'_>) -> Result<Self, ModuleError> {
        Ok(Account { id, balance: 0, orders: 0, discounts: 0, largest: 0, pending: Vec::new() })
    }

    fn handle(&mut self, msg: BillingMsg, ctx: &mut Context<'_>) -> BillingReply {
        match msg {
            BillingMsg::Charge { amount } => {
                assert_ne!(amount, 13, "v3 bug: cannot price 13 cents");
                let discount = if amount >= 100 { amount / 100 } else { 0 };
                let price = amount - discount;
                let write = LedgerWrite { account: self.id, amount, price, version: 3 };
                match ctx.request_with_timeout::<LedgerWrite, LedgerReceipt>(
                    LEDGER_PORT,
                    &write,
                    LEDGER_TIMEOUT,
                ) {
                    Ok(id) => {
                        let token = ctx.defer_reply().map_or(0, |t| t.0);
                        self.pending.push(PendingCharge { request: id.0, token, amount, price });
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
                self.discounts += p.amount - p.price;
                self.largest = self.largest.max(p.amount);
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

    fn code_change(old: OldState<'_>, _extra: &[u8]) -> Result<Self, ModuleError> {
        let v1: AccountV1 = old.decode()?;
        Ok(Account {
            id: v1.id,
            balance: v1.balance,
            orders: v1.orders,
            discounts: 0,
            largest: 0,
            pending: v1.pending,
        })
    }

    fn downgrade(&self, _to: &str, out: &mut StateWriter<'_>) -> Result<(), ModuleError> {
        out.write(&AccountV1 {
            id: self.id,
            balance: self.balance,
            orders: self.orders,
            pending: self.pending.clone(),
        })
    }
}

relive_sdk::export_module!(Account);
