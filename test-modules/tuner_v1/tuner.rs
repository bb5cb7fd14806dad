// The `tuner` module, shared by `tuner_v1` and `tuner_v2` (each
// `include!`s it and defines `MAJOR` and `MAX_LIMIT`).

use postcard_schema::Schema;
use relive_sdk::{Configured, Context, Module, ModuleError};
use serde::{Deserialize, Serialize};
use tuner_api::{TunerMsg, TunerReply, TunerSection};

/// The module's state.
#[derive(Debug, Serialize, Deserialize, Schema)]
pub struct Tuner {
    gets: u64,
}

impl Module for Tuner {
    const NAME: &'static str = "tuner";
    type Args = ();
    type Msg = TunerMsg;
    type Reply = TunerReply;

    fn init((): (), _: &mut Context<'_>) -> Result<Self, ModuleError> {
        Ok(Tuner { gets: 0 })
    }

    fn handle(&mut self, TunerMsg::Get: TunerMsg, ctx: &mut Context<'_>) -> TunerReply {
        self.gets += 1;
        TunerReply {
            version: MAJOR,
            section: ctx.config::<TunerSection>().map(|s| (*s).clone()),
        }
    }
}

impl Configured for Tuner {
    type Section = TunerSection;

    fn on_config(section: &TunerSection) -> Result<(), ModuleError> {
        if section.label == "panic" {
            panic!("on_config was told to panic");
        }
        if section.label == "slow" {
            // Past the host's bound (`ON_CONFIG_TIMEOUT`, 5 s).
            std::thread::sleep(std::time::Duration::from_secs(7));
        }
        if section.limit > MAX_LIMIT {
            return Err(ModuleError::new(format!(
                "limit {} is over {MAX_LIMIT}",
                section.limit
            )));
        }
        Ok(())
    }
}
