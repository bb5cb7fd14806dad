//! What the billing service's HTTP host and every billing module share.

use postcard_schema::Schema;
use serde::{Deserialize, Serialize};

/// A message to one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub enum BillingMsg {
    /// Charge an order of `amount` cents to the account.
    Charge {
        /// The order's amount in cents.
        amount: u64,
    },
    /// Read the account.
    Balance,
}

/// An account's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub struct BillingReply {
    /// The version of the pricing code that answered (1, 2, 3).
    pub version: u32,
    /// The account's balance in cents.
    pub balance: u64,
    /// What this message added to the balance.
    pub added: u64,
    /// Orders charged so far.
    pub orders: u64,
}

/// v1's per-account state; later versions keep a copy to migrate from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub struct AccountV1 {
    /// The account id.
    pub id: u64,
    /// Balance in cents.
    pub balance: u64,
    /// Orders charged.
    pub orders: u64,
}
