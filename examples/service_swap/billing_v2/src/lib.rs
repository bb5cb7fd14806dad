//! Billing v2: orders of 100 cents or more get 1 % off, and the account
//! keeps more: the discount it has been given and its largest order.
//! `code_change` derives the new state from v1's; `downgrade` writes v1's.

use billing_api::{AccountV1, BillingMsg, BillingReply};
use postcard_schema::Schema;
use relive_sdk::{Context, Fingerprint, Module, ModuleError, OldState, StateWriter};
use serde::{Deserialize, Serialize};

/// One account, v2.
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
        BillingReply { version: 2, balance: self.balance, added, orders: self.orders }
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
