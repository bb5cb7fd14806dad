//! Billing v3: v2 with a bug — an order of exactly 13 cents panics. Under
//! traffic with such orders it crash-loops, and the accounts' supervisor
//! rolls the module back. Otherwise as v2 (1 % off orders of 100 cents or
//! more; migrates from v1's state and back).

use billing_api::{AccountV1, BillingMsg, BillingReply};
use postcard_schema::Schema;
use relive_sdk::{Context, Fingerprint, Module, ModuleError, OldState, StateWriter};
use serde::{Deserialize, Serialize};

/// One account, v3.
#[derive(Debug, Serialize, Deserialize, Schema)]
pub struct Account {
    id: u64,
    balance: u64,
    orders: u64,
    discounts: u64,
    largest: u64,
}

impl Module for Account {
    const NAME: &'static str = "billing";
    type Args = u64;
    type Msg = BillingMsg;
    type Reply = BillingReply;
    const READS: &'static [Fingerprint] = &[Fingerprint::of::<AccountV1>()];
    const DOWNGRADES_TO: &'static [Fingerprint] = &[Fingerprint::of::<AccountV1>()];

    fn init(id: u64, _: &mut Context<'_>) -> Result<Self, ModuleError> {
        Ok(Account { id, balance: 0, orders: 0, discounts: 0, largest: 0 })
    }

    fn handle(&mut self, msg: BillingMsg, _: &mut Context<'_>) -> BillingReply {
        let added = match msg {
            BillingMsg::Charge { amount } => {
                assert_ne!(amount, 13, "v3 bug: cannot price 13 cents");
                let discount = if amount >= 100 { amount / 100 } else { 0 };
                let price = amount - discount;
                self.balance += price;
                self.orders += 1;
                self.discounts += discount;
                self.largest = self.largest.max(amount);
                price
            }
            BillingMsg::Balance => 0,
        };
        BillingReply { version: 3, balance: self.balance, added, orders: self.orders }
    }

    fn code_change(old: OldState<'_>, _extra: &[u8]) -> Result<Self, ModuleError> {
        let v1: AccountV1 = old.decode()?;
        Ok(Account { id: v1.id, balance: v1.balance, orders: v1.orders, discounts: 0, largest: 0 })
    }

    fn downgrade(&self, _to: &str, out: &mut StateWriter<'_>) -> Result<(), ModuleError> {
        out.write(&AccountV1 { id: self.id, balance: self.balance, orders: self.orders })
    }
}

relive_sdk::export_module!(Account);
