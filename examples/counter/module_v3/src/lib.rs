//! Counter, version 3: v2's logic with a bug — it panics when asked to add
//! 13. Under traffic that contains such messages it crash-loops, and the
//! supervisor rolls the module back to the previous version.

use counter_example_api::{Msg, Reply, StateV1};
use relive_sdk::{Context, Fingerprint, Module, ModuleError, OldState, StateWriter};

/// The state of v3 (v2's shape).
#[relive_sdk::data]
#[derive(Debug)]
pub struct Counter {
    count: u64,
    adds: u64,
}

impl Module for Counter {
    const NAME: &'static str = "counter";
    type Args = u64;
    type Msg = Msg;
    type Reply = Reply;
    const READS: &'static [Fingerprint] = &[Fingerprint::of::<StateV1>()];
    const DOWNGRADES_TO: &'static [Fingerprint] = &[Fingerprint::of::<StateV1>()];

    fn init(start: u64, _: &mut Context<'_>) -> Result<Self, ModuleError> {
        Ok(Counter { count: start, adds: 0 })
    }

    fn handle(&mut self, msg: Msg, _: &mut Context<'_>) -> Reply {
        if let Msg::Add(n) = msg {
            assert_ne!(n, 13, "v3 bug: 13 is unlucky");
            self.count += n;
            self.adds += 1;
        }
        Reply { version: 3, count: self.count }
    }

    fn code_change(old: OldState<'_>, _extra: &[u8]) -> Result<Self, ModuleError> {
        let v1: StateV1 = old.decode()?;
        Ok(Counter { count: v1.count, adds: 0 })
    }

    fn downgrade(&self, _to: &str, out: &mut StateWriter<'_>) -> Result<(), ModuleError> {
        out.write(&StateV1 { count: self.count })
    }
}

relive_sdk::export_module!(Counter);
