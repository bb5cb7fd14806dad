//! issue 17: pricing 3.0.0 that no longer exports `quote`: the host must
//! refuse it as an upgrade of a version that does.

use pricing_api::{Quote, QuoteReq};
use relive_sdk::prelude::*;

/// The one function left (`quote` is gone).
#[relive_sdk::function]
pub fn fails_on_zero(n: u32) -> u32 {
    assert!(n != 0, "fails_on_zero: zero");
    n * 2
}

/// The actor, unchanged.
#[data]
#[derive(Debug)]
pub struct Pricing {
    asked: u64,
}

impl Module for Pricing {
    const NAME: &'static str = "pricing";
    type Args = ();
    type Msg = QuoteReq;
    type Reply = Quote;

    fn init(_: (), _: &mut Context<'_>) -> Result<Self, ModuleError> {
        Ok(Pricing { asked: 0 })
    }

    fn handle(&mut self, req: QuoteReq, _: &mut Context<'_>) -> Quote {
        self.asked += 1;
        Quote::by(3, req)
    }
}

relive_sdk::export_module!(Pricing, functions = [fails_on_zero]);
