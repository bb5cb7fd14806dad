//! issue 17: pricing 3.0.0 whose `quote` returns a bare price instead of a
//! `Quote`: the host must refuse it as an upgrade of a version whose `quote`
//! callers decode `Quote`s.

use pricing_api::{Quote, QuoteReq};
use relive_sdk::prelude::*;

/// The changed function: a `u64`, not a `Quote`.
#[relive_sdk::function]
pub fn quote(req: QuoteReq) -> u64 {
    u64::from(req.qty) * 31
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

relive_sdk::export_module!(Pricing, functions = [quote]);
