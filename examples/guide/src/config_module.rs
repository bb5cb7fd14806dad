//! docs/guide.md, "A module's section, which it may refuse": a module that
//! takes its part of the host's configuration and may veto it. This crate's
//! one exported module.
// The guide's code, without the docs a published crate would have.
#![allow(missing_docs, missing_debug_implementations)]

use relive_sdk::prelude::*;
use relive_sdk::Configured;

#[data]
pub struct Pricing;

#[data]
#[derive(Clone)]
pub struct PricingSection { pub margin_percent: u32 }

impl Module for Pricing {
    const NAME: &'static str = "pricing";
    type Args = ();
    type Msg = u64;
    type Reply = u64;
    fn init((): (), _: &mut Context<'_>) -> Result<Self, ModuleError> { Ok(Pricing) }
    fn handle(&mut self, cost: u64, ctx: &mut Context<'_>) -> u64 {
        // The section as last applied to this version.
        let margin = ctx.config::<PricingSection>().map_or(0, |s| s.margin_percent);
        cost + cost * u64::from(margin) / 100
    }
}

impl Configured for Pricing {
    type Section = PricingSection;
    // Asked before a new configuration is applied; an error vetoes it for everyone.
    fn on_config(s: &PricingSection) -> Result<(), ModuleError> {
        if s.margin_percent > 50 { Err(ModuleError::new("a margin over 50% is a typo")) } else { Ok(()) }
    }
}

relive_sdk::export_module!(Pricing, configured);
