//! A tally whose state, messages and replies all derive their wire traits
//! through `#[relive_sdk::data]`: the crate depends on `relive-sdk` (and its
//! own interface crate) only.

use one_dep_api::{Count, TallyMsg};
use relive_sdk::prelude::*;
use std::collections::BTreeMap;

/// The tally's state.
#[data]
#[derive(Debug)]
pub struct Tally {
    counts: BTreeMap<String, u64>,
    /// Shows a field attribute of serde's beside the attribute's own.
    #[serde(default)]
    total: u64,
}

impl Module for Tally {
    const NAME: &'static str = "one_dep";
    type Args = ();
    type Msg = TallyMsg;
    type Reply = Count;

    fn init(_: (), _: &mut Context<'_>) -> Result<Self, ModuleError> {
        Ok(Tally { counts: BTreeMap::new(), total: 0 })
    }

    fn handle(&mut self, msg: TallyMsg, _: &mut Context<'_>) -> Count {
        match msg {
            TallyMsg::Add { item, n } => {
                let c = self.counts.entry(item).or_default();
                *c += u64::from(n);
                self.total += u64::from(n);
                Count(*c)
            }
            TallyMsg::Get(item) => Count(self.counts.get(&item).copied().unwrap_or(0)),
            TallyMsg::Total => Count(self.total),
        }
    }
}

relive_sdk::export_module!(Tally);
