//! `relive fleet upgrade` and `relive fleet status` (issue 18 §2): the real
//! binary as a rollout coordinator against two relive hosts (in this
//! process) that require signed libraries, over a real JetStream
//! `nats-server` on 127.0.0.1. Without a nats-server the test prints a loud
//! SKIP.

use counter_api::{CounterMsg, CounterReply};
use relive_cluster::{ClusterBuilder, FleetAgentOptions};
use relive_runtime::{Host, SpawnOptions};
use relive_test_support::fixtures;
use relive_test_support::nats::{NatsServer, nats_server_or_skip};
use std::process::{Command, Output};
use std::time::Duration;

fn relive(args: Vec<String>) -> Output {
    Command::new(env!("CARGO_BIN_EXE_relive")).args(args).output().expect("run relive")
}

fn args(list: &[&str], url: &str) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
    v.extend(["--nats", url, "--cluster", "clitest", "--heartbeat", "100ms"].map(String::from));
    v
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_upgrade_rolls_a_signed_library_out_and_status_shows_every_host() {
    let Some(bin) = nats_server_or_skip("fleet_upgrade_rolls_a_signed_library_out") else {
        return;
    };
    let nats = NatsServer::start_jetstream(&bin);
    let url = nats.url();
    let dir = fixtures().scratch();
    let key = dir.path().join("fleet.key");
    assert!(relive(vec!["keygen".into(), key.display().to_string()]).status.success());
    let public = std::fs::read_to_string(dir.path().join("fleet.key.pub")).unwrap();
    let public: [u8; 32] = hex::decode(public.trim()).unwrap().try_into().unwrap();
    let public = ed25519_dalek::VerifyingKey::from_bytes(&public).unwrap();
    let signed = |name: &str| {
        let copy = dir.path().join(format!("{name}.so"));
        std::fs::copy(fixtures().path(name), &copy).unwrap();
        let o = relive(vec![
            "sign".into(),
            copy.display().to_string(),
            "--key".into(),
            key.display().to_string(),
        ]);
        assert!(o.status.success(), "{}", text(&o));
        copy
    };
    let (v1, v2) = (signed("counter_v1"), signed("counter_v2"));

    let mut hosts = Vec::new();
    for node in ["a", "b"] {
        let host = Host::builder().workers(1).trust_key(public).build().unwrap();
        host.code_server().upgrade("counter", &v1).unwrap();
        let _c: relive_runtime::ActorRef<CounterMsg, CounterReply> =
            host.spawn_with("counter", &0u64, SpawnOptions::new().name("counter")).unwrap();
        let member = ClusterBuilder::new(&url, "clitest", node)
            .heartbeat(Duration::from_millis(100), Duration::from_millis(600))
            .join(&host.handle())
            .await
            .unwrap();
        let opts = FleetAgentOptions::new(dir.path().join(format!("fleet-{node}")))
            .report_interval(Duration::from_millis(50));
        let agent = member.fleet_agent(opts).await.unwrap();
        hosts.push((host, member, agent));
    }

    let run = |list: Vec<String>| tokio::task::spawn_blocking(move || relive(list));
    let up = args(
        &[
            "fleet",
            "upgrade",
            "counter",
            v2.to_str().unwrap(),
            "--canary-hosts",
            "1",
            "--bake",
            "300ms",
            "--max-error-rate",
            "0.1",
            "--step-timeout",
            "10s",
        ],
        &url,
    );
    let o = run(up).await.unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("promoted counter 2.0.0"), "{}", text(&o));
    for (host, _, _) in &hosts {
        assert_eq!(host.code_server().current("counter").unwrap().version().major, 2);
    }

    let o = run(args(&["--json", "fleet", "status"], &url)).await.unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let status: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let nodes: Vec<&str> = status["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["report"]["node"].as_str().unwrap())
        .collect();
    assert_eq!(nodes, ["a", "b"]);
    for h in status["hosts"].as_array().unwrap() {
        assert_eq!(h["alive"], true);
        assert_eq!(h["report"]["modules"]["counter"]["version"], "2.0.0");
        assert_eq!(h["report"]["modules"]["counter"]["step"], "running");
    }
    assert_eq!(status["rollouts"]["counter"]["phase"], "promoted");
    assert_eq!(status["desired"]["counter"]["promoted"]["signed"], true);
    assert!(status["lock"].is_null());
    let o = run(args(&["fleet", "status"], &url)).await.unwrap();
    let shown = text(&o);
    assert!(shown.contains("desired counter: promoted 2.0.0"), "{shown}");
    assert!(
        shown.lines().filter(|l| l.contains("counter") && l.contains("2.0.0 ")).count() >= 2,
        "{shown}"
    );

    // An unsigned library: the canary's own loader refuses it, the rollout
    // aborts (exit 1) and both hosts stay on v2.
    let unsigned = dir.path().join("counter_v3_crashy.so");
    std::fs::copy(fixtures().path("counter_v3_crashy"), &unsigned).unwrap();
    let up = args(
        &[
            "fleet",
            "upgrade",
            "counter",
            unsigned.to_str().unwrap(),
            "--bake",
            "100ms",
            "--step-timeout",
            "10s",
        ],
        &url,
    );
    let o = run(up).await.unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("aborted"), "{}", text(&o));
    assert!(text(&o).contains("signature"), "{}", text(&o));
    for (host, _, _) in &hosts {
        assert_eq!(host.code_server().current("counter").unwrap().version().major, 2);
    }
}
