//! docs/guide.md, "Configuration that reloads": a host that reads, checks
//! and follows its limits file (compiled; the runnable round trip is the
//! doctest of `relive_runtime::host::config`).
#![allow(dead_code, missing_docs, missing_debug_implementations)]

use relive::Host;
use serde::Deserialize;

#[derive(Deserialize)]
struct Limits {
    max_sessions: u32,
    greeting: String,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let host = Host::new()?;
    let limits = host.config_with("/etc/billing/limits.toml", |l: &Limits| {
        if l.max_sessions == 0 { Err("max_sessions must be at least 1") } else { Ok(()) }
    })?;

    // Anywhere, on any thread: a lock-free guard to the value in force.
    let now = limits.load();
    println!("{} (up to {} sessions)", now.greeting, now.max_sessions);

    // What happened to the file, as events.
    for event in host.events() {
        match event?.kind {
            relive::EventKind::ConfigApplied { revision, .. } => println!("applied revision {revision}"),
            relive::EventKind::ConfigRefused { reason, .. } => eprintln!("kept the old one: {reason}"),
            _ => {}
        }
    }
    Ok(())
}
