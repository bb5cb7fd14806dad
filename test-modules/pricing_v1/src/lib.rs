//! issue 17: the pricing module, version 1 — a counter actor and the
//! stateless functions `quote`, `slow_quote`, `fails_on_zero`, `catalog` and `sum`.

use pricing_api::{Quote, QuoteReq, SlowReq};
use relive_sdk::prelude::*;

/// This version's major version, in every quote.
pub const VERSION: u32 = 1;

/// A quote: `qty` times this version's unit price, with its marker.
#[relive_sdk::function]
pub fn quote(req: QuoteReq) -> Quote {
    Quote::by(VERSION, req)
}

/// A quote after a sleep (a call that is still running while a test swaps
/// versions).
#[relive_sdk::function]
pub fn slow_quote(req: SlowReq) -> Quote {
    std::thread::sleep(std::time::Duration::from_millis(req.ms));
    Quote::by(VERSION, req.req)
}

/// Panics when `n` is 0; otherwise `n * 2`.
#[relive_sdk::function]
pub fn fails_on_zero(n: u32) -> u32 {
    assert!(n != 0, "fails_on_zero: zero");
    n * 2
}

/// `n` quotes (a result larger than the host's stack buffer).
#[relive_sdk::function]
pub fn catalog(n: u32) -> Vec<Quote> {
    (0..n).map(|item| Quote::by(VERSION, QuoteReq { item, qty: 1 })).collect()
}

/// The sum of `xs`, plus the version (an argument larger than the host's
/// stack buffer).
#[relive_sdk::function]
pub fn sum(xs: Vec<u64>) -> u64 {
    xs.iter().sum::<u64>() + u64::from(VERSION)
}

/// The actor beside the functions: a count of quotes asked of it.
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
        quote(req)
    }
}

relive_sdk::export_module!(Pricing, functions = [quote, slow_quote, fails_on_zero, catalog, sum]);
