//! What the billing service's HTTP host and every billing module share.

/// A message to one account.
#[relive_sdk::data]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillingMsg {
    /// Charge an order of `amount` cents to the account: priced, written to
    /// the ledger through the `ledger` port, and answered once the write
    /// committed (the balance counts only committed charges).
    Charge {
        /// The order's amount in cents.
        amount: u64,
    },
    /// Read the account.
    Balance,
}

/// An account's answer.
#[relive_sdk::data]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BillingReply {
    /// The version of the pricing code that answered (1, 2, 3).
    pub version: u32,
    /// The account's balance in cents.
    pub balance: u64,
    /// What this message added to the balance.
    pub added: u64,
    /// Orders charged so far.
    pub orders: u64,
    /// For a charge: whether it was written to the ledger and added to the
    /// balance (false: the ledger refused or failed, nothing was charged).
    pub charged: bool,
}

/// The name of the port every charge is written through.
pub const LEDGER_PORT: &str = "ledger";

/// One charge, as written to the ledger (the `ledger` port's request).
#[relive_sdk::data]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerWrite {
    /// The account id.
    pub account: u64,
    /// The order's amount in cents.
    pub amount: u64,
    /// What the account is charged for it, in cents.
    pub price: u64,
    /// The version of the pricing code.
    pub version: u32,
}

/// The ledger's receipt: the row the charge was written as, committed.
#[relive_sdk::data]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerReceipt {
    /// The row's id.
    pub row: i64,
}

/// A charge written to the ledger whose receipt has not come back yet: kept
/// in the account's state (so it survives an upgrade) until it does.
#[relive_sdk::data]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingCharge {
    /// The port request's id.
    pub request: u64,
    /// The caller's deferred reply token (0: the charge was a cast).
    pub token: u64,
    /// The order's amount in cents.
    pub amount: u64,
    /// The price being written.
    pub price: u64,
}

/// v1's per-account state; later versions keep a copy to migrate from it.
#[relive_sdk::data]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountV1 {
    /// The account id.
    pub id: u64,
    /// Balance in cents: committed charges only.
    pub balance: u64,
    /// Orders charged (committed).
    pub orders: u64,
    /// Charges written, not yet committed.
    pub pending: Vec<PendingCharge>,
}
