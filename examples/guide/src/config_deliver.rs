//! docs/guide.md, "A module's section, which it may refuse": the host's side,
//! which says which part of its configuration is the module's.
#![allow(dead_code, missing_docs, missing_debug_implementations)]

use relive::Host;
use serde::Deserialize;

// In your project this is the interface crate's type, shared with the module.
#[relive_sdk::data]
#[derive(Clone)]
pub struct PricingSection { pub margin_percent: u32 }

#[derive(Deserialize)]
struct Settings {
    pricing: PricingSection,
    // … the host's own settings
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let host = Host::new()?;
    host.code_server().upgrade("pricing", "target/debug/libpricing.so")?;
    let settings = host.config::<Settings>("/etc/billing/settings.toml")?;
    settings.deliver("pricing", |s: &Settings| s.pricing.clone())?;
    // … spawn and serve
    Ok(())
}
