//! Counter, version 2: the state also counts how many `Add`s it handled,
//! and it takes a new message, `Reset` (its message type is `MsgV2`, which
//! appends `Reset` to release 1's `Msg`).
//! `code_change` derives the new field from v1's state; `downgrade` writes
//! v1's state back for a rollback.

use counter_example_api::{MsgV2, Reply, StateV1};
use relive_sdk::{Context, Fingerprint, Module, ModuleError, OldState, StateWriter};

/// The state of v2.
#[relive_sdk::data]
#[derive(Debug)]
pub struct Counter {
    count: u64,
    adds: u64,
}

impl Module for Counter {
    const NAME: &'static str = "counter";
    type Args = u64;
    type Msg = MsgV2;
    type Reply = Reply;
    const READS: &'static [Fingerprint] = &[Fingerprint::of::<StateV1>()];
    const DOWNGRADES_TO: &'static [Fingerprint] = &[Fingerprint::of::<StateV1>()];

    fn init(start: u64, _: &mut Context<'_>) -> Result<Self, ModuleError> {
        Ok(Counter { count: start, adds: 0 })
    }

    fn handle(&mut self, msg: MsgV2, _: &mut Context<'_>) -> Reply {
        match msg {
            MsgV2::Add(n) => {
                self.count += n;
                self.adds += 1;
            }
            MsgV2::Get => {}
            MsgV2::Reset => self.count = 0,
        }
        Reply { version: 2, count: self.count }
    }

    fn code_change(old: OldState<'_>, _extra: &[u8]) -> Result<Self, ModuleError> {
        let v1: StateV1 = old.decode()?;
        relive_sdk::tracing::info!(count = v1.count, "migrating from v1");
        Ok(Counter { count: v1.count, adds: 0 })
    }

    fn downgrade(&self, _to: &str, out: &mut StateWriter<'_>) -> Result<(), ModuleError> {
        out.write(&StateV1 { count: self.count })
    }
}

relive_sdk::export_module!(Counter);
