//! docs/guide.md, "Stateless functions": a module with a function, and a
//! host calling it through a typed handle (`tests/host_code.rs` runs
//! [`call_quote`]).
// The guide's code, without the docs a published crate would have.
#![allow(missing_docs, missing_debug_implementations)]

use relive_sdk::prelude::*;

#[data]
pub struct QuoteReq { pub item: u32, pub qty: u32 }

#[data]
pub struct Quote { pub item: u32, pub price: u64 }

/// One argument, one result; both are checked by the host, like messages.
#[relive_sdk::function]
pub fn quote(req: QuoteReq) -> Quote {
    Quote { item: req.item, price: u64::from(req.qty) * 11 }
}

/// The module's actor (a trivial one is fine).
#[data]
pub struct Pricing;

impl Module for Pricing {
    const NAME: &'static str = "pricing";
    type Args = ();
    type Msg = ();
    type Reply = ();
    fn init(_: (), _: &mut Context<'_>) -> Result<Self, ModuleError> { Ok(Pricing) }
    fn handle(&mut self, _: (), _: &mut Context<'_>) {}
}

// In the cdylib: relive_sdk::export_module!(Pricing, functions = [quote]);

/// The guide's host side: load the module linked in, call `quote`.
///
/// # Errors
/// The first refusal (none, when the example works).
pub fn call_quote() -> Result<(), Box<dyn std::error::Error>> {
    let host = relive::Host::new()?;
    host.code_server().upgrade("pricing", relive_sdk::declaration!(Pricing, functions = [quote]))?;

    // A typed handle: Clone, Send, Sync; checked against the function's types.
    let quote = host.function::<QuoteReq, Quote>("pricing", "quote")?;
    assert_eq!(quote.call(&QuoteReq { item: 1, qty: 2 })?.price, 22);
    Ok(())
}
