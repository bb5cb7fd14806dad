//! Billing v1: every order is charged its amount.

use billing_api::{BillingMsg, BillingReply};
use postcard_schema::Schema;
use relive_sdk::{Context, Module, ModuleError};
use serde::{Deserialize, Serialize};

/// One account.
#[derive(Debug, Serialize, Deserialize, Schema)]
pub struct Account {
    id: u64,
    balance: u64,
    orders: u64,
}

impl Module for Account {
    const NAME: &'static str = "billing";
    type Args = u64;
    type Msg = BillingMsg;
    type Reply = BillingReply;

    fn init(id: u64, _: &mut Context<'_>) -> Result<Self, ModuleError> {
        Ok(Account { id, balance: 0, orders: 0 })
    }

    fn handle(&mut self, msg: BillingMsg, _: &mut Context<'_>) -> BillingReply {
        let added = match msg {
            BillingMsg::Charge { amount } => {
                self.balance += amount;
                self.orders += 1;
                amount
            }
            BillingMsg::Balance => 0,
        };
        BillingReply { version: 1, balance: self.balance, added, orders: self.orders }
    }
}

relive_sdk::export_module!(Account);
