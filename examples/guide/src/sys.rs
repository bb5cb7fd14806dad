//! docs/guide.md, "Looking inside a running actor: `sys`": a module that
//! refuses states a `replace_state` may not set.

use relive_sdk::prelude::*;
use std::collections::BTreeMap;

/// A basket whose total must be the sum of its items.
#[data]
#[derive(Debug, Default)]
pub struct Basket {
    items: BTreeMap<String, u64>,
    total: u64,
}

impl Module for Basket {
    const NAME: &'static str = "basket";
    type Args = ();
    type Msg = (String, u64);
    type Reply = u64;

    fn init(_: (), _: &mut Context<'_>) -> Result<Self, ModuleError> {
        Ok(Basket::default())
    }

    fn handle(&mut self, (item, n): (String, u64), _: &mut Context<'_>) -> u64 {
        *self.items.entry(item).or_default() += n;
        self.total += n;
        self.total
    }

    fn validate(&self) -> Result<(), ModuleError> {
        if self.total != self.items.values().sum::<u64>() {
            return Err(ModuleError::new("total is not the sum of the items"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_basket_whose_total_is_not_its_sum_is_refused() {
        let good = Basket { items: BTreeMap::from([("tea".into(), 2)]), total: 2 };
        assert!(good.validate().is_ok());
        let bad = Basket { items: BTreeMap::from([("tea".into(), 2)]), total: 3 };
        assert!(bad.validate().is_err());
    }
}
