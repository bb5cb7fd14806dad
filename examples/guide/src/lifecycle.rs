//! docs/guide.md, "Lifecycle hooks" and "Depending on another module": a
//! module that vets its loads and cleans up after its code, and one that
//! declares the module it calls.

use relive_sdk::prelude::*;
use relive_sdk::{Dependency, LoadInfo, dep};

/// A cache that refuses to be loaded over a 1.x version.
#[data]
#[derive(Debug, Default)]
pub struct Cache {
    hits: u64,
}

impl Module for Cache {
    const NAME: &'static str = "cache";
    type Args = ();
    type Msg = ();
    type Reply = u64;

    fn init(_: (), _: &mut Context<'_>) -> Result<Self, ModuleError> {
        Ok(Cache::default())
    }

    fn handle(&mut self, (): (), _: &mut Context<'_>) -> u64 {
        self.hits += 1;
        self.hits
    }

    fn on_load(info: &LoadInfo<'_>) -> Result<(), ModuleError> {
        // info.version(): this version; info.previous(): the running one, if any.
        if info.previous().is_some_and(|v| v.starts_with("1.")) {
            return Err(ModuleError::new("upgrade to 2.0 first"));
        }
        Ok(())
    }
    fn on_free() {
        tracing::info!("this version's code is about to be unloaded");
    }
}

/// The interface of the `inventory` module a cart calls.
pub mod inventory_api {
    use relive_sdk::prelude::*;

    /// What the inventory is sent.
    #[data]
    #[derive(Debug)]
    pub enum Msg {
        /// Take this many of an item.
        Take(String, u32),
    }

    /// What it answers.
    #[data]
    #[derive(Debug)]
    pub enum Reply {
        /// Taken; this many left.
        Left(u32),
        /// Not enough.
        Short,
    }
}

/// A cart that takes items from the inventory.
#[data]
#[derive(Debug, Default)]
pub struct Cart {
    items: u32,
}

impl Module for Cart {
    const NAME: &'static str = "cart";
    type Args = ();
    type Msg = u32;
    type Reply = u32;

    fn init(_: (), _: &mut Context<'_>) -> Result<Self, ModuleError> {
        Ok(Cart::default())
    }

    fn handle(&mut self, n: u32, _: &mut Context<'_>) -> u32 {
        self.items += n;
        self.items
    }

    const DEPENDS: &'static [Dependency] =
        &[dep!("inventory", "^1", inventory_api::Msg, inventory_api::Reply)];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_refuses_a_load_over_1_x_and_accepts_others() {
        assert!(Cache::on_load(&LoadInfo::new("2.0.0", Some("1.4.0"))).is_err());
        assert!(Cache::on_load(&LoadInfo::new("2.1.0", Some("2.0.0"))).is_ok());
        assert!(Cache::on_load(&LoadInfo::new("2.0.0", None)).is_ok());
    }
}
