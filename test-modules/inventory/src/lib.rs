//! An inventory (test fixture for OTP's `sys`): a state with a few fields
//! and a rule its `validate` keeps (`total` is the sum of `items`), so that
//! `get_state` has something to show and `replace_state` something to refuse.

use postcard_schema::Schema;
use relive_sdk::{Context, Module, ModuleError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the inventory is asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub enum InventoryMsg {
    /// Add `n` of `item`; answers the new total.
    Add {
        /// The item.
        item: String,
        /// How many.
        n: u64,
    },
    /// Answer the total.
    Total,
    /// Sleep `ms` milliseconds in the handler (a busy actor), then answer
    /// the total.
    Sleep {
        /// How long.
        ms: u64,
    },
}

/// The inventory's state.
#[derive(Debug, Serialize, Deserialize, Schema)]
pub struct Inventory {
    /// Whose it is.
    pub owner: String,
    /// Count per item.
    pub items: BTreeMap<String, u64>,
    /// The sum of `items`.
    pub total: u64,
}

impl Module for Inventory {
    const NAME: &'static str = "inventory";
    type Args = String;
    type Msg = InventoryMsg;
    type Reply = u64;

    fn init(owner: String, _: &mut Context<'_>) -> Result<Self, ModuleError> {
        Ok(Inventory { owner, items: BTreeMap::new(), total: 0 })
    }

    fn handle(&mut self, msg: InventoryMsg, _: &mut Context<'_>) -> u64 {
        match msg {
            InventoryMsg::Add { item, n } => {
                *self.items.entry(item).or_default() += n;
                self.total += n;
            }
            InventoryMsg::Total => {}
            InventoryMsg::Sleep { ms } => std::thread::sleep(std::time::Duration::from_millis(ms)),
        }
        self.total
    }

    fn validate(&self) -> Result<(), ModuleError> {
        let sum: u64 = self.items.values().sum();
        if sum != self.total {
            return Err(ModuleError::new(format!(
                "total {} is not the sum of the items ({sum})",
                self.total
            )));
        }
        Ok(())
    }
}

relive_sdk::export_module!(Inventory);
