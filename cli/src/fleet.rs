//! issue 18 §2: `relive fleet upgrade` and `relive fleet status` — a rollout
//! coordinator on a NATS connection of its own (`relive_cluster::Fleet`),
//! not the admin socket.

use clap::Subcommand;
use relive_cluster::fleet::{FleetStatus, Hosts, RolloutError, chain};
use relive_cluster::{FleetBuilder, RolloutPlan};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// `relive fleet …`: where the cluster is, and what to do.
#[derive(Debug, clap::Args)]
pub(crate) struct FleetArgs {
    /// The cluster's NATS server(s), comma-separated.
    #[arg(long, global = true, env = "RELIVE_NATS", default_value = "nats://127.0.0.1:4222")]
    nats: String,
    /// The cluster's name.
    #[arg(long, global = true, env = "RELIVE_CLUSTER", default_value = "relive")]
    cluster: String,
    /// The hosts' heartbeat interval: the coordinator listens one and a
    /// half of them for the live hosts; silent for three, a host is gone.
    #[arg(long, global = true, value_parser = humantime::parse_duration, default_value = "1s")]
    heartbeat: Duration,
    /// How long connecting (and opening the buckets) may take.
    #[arg(long, global = true, value_parser = humantime::parse_duration, default_value = "5s")]
    connect_timeout: Duration,
    #[command(subcommand)]
    command: FleetCmd,
}

#[derive(Debug, Subcommand)]
enum FleetCmd {
    /// Roll a module's library out to every host running a fleet agent:
    /// canary hosts first, a bake judged on their error rate, then the
    /// rest — or an abort that sends every host back.
    Upgrade {
        /// The module.
        name: String,
        /// The library (.so); a `PATH.sig` beside it is published too.
        path: PathBuf,
        /// How many hosts upgrade first (the first by node name).
        #[arg(long, default_value_t = 1)]
        canary_hosts: usize,
        /// How long the canaries' error rate is judged (`30s`, `2m`).
        #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
        bake: Duration,
        /// The largest error rate ((crashes + failed calls) / messages) the
        /// canaries may show.
        #[arg(long, default_value_t = 0.01)]
        max_error_rate: f64,
        /// The bound of each step (publish, canaries, the rest, an abort).
        #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
        step_timeout: Duration,
        /// The fleet lock's lease: renewed every third of it while the
        /// rollout runs; a lock not renewed for this long is taken over.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
        lease: Duration,
    },
    /// Each host's versions, the desired builds, the last rollouts and the
    /// lock.
    Status,
}

const EXIT_REFUSED: u8 = 1;
const EXIT_CONNECT: u8 = 3;

/// Run `relive fleet …`.
pub(crate) fn run(args: FleetArgs, json: bool) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("relive: no runtime: {e}");
            return ExitCode::from(EXIT_CONNECT);
        }
    };
    rt.block_on(async move {
        let fleet = FleetBuilder::new(&args.nats, &args.cluster)
            .heartbeat(args.heartbeat, args.heartbeat * 3)
            .connect_timeout(args.connect_timeout)
            .connect()
            .await;
        let fleet = match fleet {
            Ok(f) => f,
            Err(e) => {
                eprintln!("relive: {}", chain(&e));
                return ExitCode::from(EXIT_CONNECT);
            }
        };
        match args.command {
            FleetCmd::Status => match fleet.status().await {
                Ok(s) => {
                    if json {
                        let v = serde_json::to_value(&s).unwrap_or_default();
                        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
                    } else {
                        print!("{}", human(&s));
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("relive: {}", chain(&e));
                    ExitCode::from(EXIT_CONNECT)
                }
            },
            FleetCmd::Upgrade {
                name,
                path,
                canary_hosts,
                bake,
                max_error_rate,
                step_timeout,
                lease,
            } => {
                let plan = RolloutPlan {
                    canary_hosts,
                    bake,
                    max_error_rate,
                    step_timeout,
                    lease,
                    ..RolloutPlan::default()
                };
                match fleet.upgrade(&name, &path, plan).await {
                    Ok(r) => {
                        let v = serde_json::json!({
                            "rollout": r.rollout,
                            "module": r.build.module,
                            "version": r.build.version,
                            "hash": r.build.hash,
                            "canaries": r.canaries,
                            "hosts": r.hosts,
                            "error_rate": r.error_rate,
                            "unchanged": r.unchanged,
                            "took_ms": r.took.as_millis() as u64,
                        });
                        if json {
                            println!("{v}");
                        } else if r.unchanged {
                            println!("{} {} is already promoted", r.build.module, r.build.version);
                        } else {
                            println!(
                                "promoted {} {} (build {}) on {} in {:.1?}\n  canaries {}, error rate {:.3}",
                                r.build.module,
                                r.build.version,
                                &r.build.hash[..16],
                                r.hosts.join(", "),
                                r.took,
                                r.canaries.join(", "),
                                r.error_rate
                            );
                        }
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        if json {
                            println!("{}", serde_json::json!({ "error": chain(&e) }));
                        } else {
                            eprintln!("relive: {}", chain(&e));
                            if let RolloutError::Aborted { rolled_back, unconfirmed, .. } = &e {
                                eprintln!(
                                    "  back on the previous version: {}; unconfirmed: {}",
                                    list(rolled_back),
                                    list(unconfirmed)
                                );
                            }
                            if let RolloutError::AbortIncomplete { .. } = &e {
                                eprintln!(
                                    "  hosts may still run the candidate; the next rollout can \
                                     start once the lock's lease has passed"
                                );
                            }
                        }
                        ExitCode::from(match e {
                            RolloutError::Fleet(_) | RolloutError::AbortIncomplete { .. } => {
                                EXIT_CONNECT
                            }
                            RolloutError::Read { .. } | RolloutError::NotAModule { .. } => 5,
                            _ => EXIT_REFUSED,
                        })
                    }
                }
            }
        }
    })
}

fn list(v: &[String]) -> String {
    if v.is_empty() { "none".into() } else { v.join(", ") }
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(16)]
}

/// `relive fleet status` as text.
fn human(s: &FleetStatus) -> String {
    use std::fmt::Write;
    let mut out = format!("cluster {}\n", s.cluster);
    let _ = writeln!(
        out,
        "{:<16} {:<6} {:<16} {:<10} {:<17} {:<13} {:>8} {:>8}",
        "HOST", "ALIVE", "MODULE", "VERSION", "BUILD", "STEP", "HANDLED", "CRASHES"
    );
    for h in &s.hosts {
        for (module, m) in &h.report.modules {
            let step = serde_json::to_value(m.step).ok();
            let step = step.as_ref().and_then(|v| v.as_str()).unwrap_or("?");
            let _ = writeln!(
                out,
                "{:<16} {:<6} {:<16} {:<10} {:<17} {:<13} {:>8} {:>8}",
                h.report.node,
                if h.alive { "yes" } else { "no" },
                module,
                m.version,
                short(&m.hash),
                step,
                m.handled,
                m.crashes
            );
            if let Some(e) = &m.error {
                let _ = writeln!(out, "    error: {e}");
            }
        }
    }
    for (module, d) in &s.desired {
        let promoted = d
            .promoted
            .as_ref()
            .map(|b| format!("{} ({})", b.version, short(&b.hash)))
            .unwrap_or_else(|| "none".into());
        let _ = write!(out, "desired {module}: promoted {promoted}");
        if let Some(c) = &d.candidate {
            let hosts = match &c.hosts {
                Hosts::All => "all hosts".to_owned(),
                Hosts::Only(h) => h.join(", "),
            };
            let _ = write!(
                out,
                "; candidate {} ({}) on {hosts}",
                c.build.version,
                short(&c.build.hash)
            );
        }
        out.push('\n');
    }
    for (module, r) in &s.rollouts {
        let phase = serde_json::to_value(r.phase).ok();
        let phase = phase.as_ref().and_then(|v| v.as_str()).unwrap_or("?");
        let _ = write!(
            out,
            "rollout {module}: {} {} {phase}; canaries {}; hosts {}; error rate {:.3}",
            r.rollout,
            r.build.version,
            list(&r.canaries),
            list(&r.hosts),
            r.error_rate
        );
        if let Some(reason) = &r.reason {
            let _ = write!(out, "; {reason}");
        }
        out.push('\n');
    }
    match &s.lock {
        Some(l) => {
            let _ = writeln!(out, "lock: rollout {} of {} by {}", l.rollout, l.module, l.owner);
        }
        None => out.push_str("lock: none\n"),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn fleet_upgrade_takes_its_plan_and_where_the_cluster_is() {
        let cli = crate::Cli::try_parse_from([
            "relive",
            "fleet",
            "upgrade",
            "counter",
            "v2.so",
            "--canary-hosts",
            "2",
            "--bake",
            "1m 30s",
            "--max-error-rate",
            "0.05",
            "--nats",
            "nats://n1:4222,nats://n2:4222",
            "--cluster",
            "shop",
            "--heartbeat",
            "250ms",
            "--lease",
            "45s",
        ])
        .unwrap();
        let crate::Cmd::Fleet(args) = cli.command else { panic!("not fleet") };
        assert_eq!(args.nats, "nats://n1:4222,nats://n2:4222");
        assert_eq!(args.cluster, "shop");
        assert_eq!(args.heartbeat, Duration::from_millis(250));
        let FleetCmd::Upgrade {
            name, canary_hosts, bake, max_error_rate, step_timeout, lease, ..
        } = args.command
        else {
            panic!("not upgrade")
        };
        assert_eq!(lease, Duration::from_secs(45));
        assert_eq!((name.as_str(), canary_hosts), ("counter", 2));
        assert_eq!(bake, Duration::from_secs(90));
        assert_eq!(max_error_rate, 0.05);
        assert_eq!(step_timeout, Duration::from_secs(60), "the default");
        // A bake needs a unit, as every duration.
        let bare = ["relive", "fleet", "upgrade", "counter", "v2.so", "--bake", "300"];
        assert!(crate::Cli::try_parse_from(bare).is_err());
        let default = ["relive", "fleet", "upgrade", "counter", "v2.so"];
        let crate::Cmd::Fleet(args) = crate::Cli::try_parse_from(default).unwrap().command else {
            panic!("not fleet")
        };
        let FleetCmd::Upgrade { lease, .. } = args.command else { panic!("not upgrade") };
        assert_eq!(lease, RolloutPlan::default().lease);
        let status = crate::Cli::try_parse_from(["relive", "fleet", "status"]).unwrap();
        let crate::Cmd::Fleet(args) = status.command else { panic!("not fleet") };
        assert_eq!(
            (args.nats.as_str(), args.cluster.as_str()),
            ("nats://127.0.0.1:4222", "relive")
        );
        assert!(matches!(args.command, FleetCmd::Status));
    }
}
