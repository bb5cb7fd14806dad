//! issue 15: `relive upgrade NAME PATH NAME PATH …` upgrades several
//! modules as one unit through the admin socket, callee first; one pair
//! refused for breaking a dependant is reported with the loader's reason.

use relive_runtime::Host;
use relive_runtime::host::SpawnOptions;
use relive_test_support::fixtures;
use std::path::Path;
use std::process::{Command, Output};

fn relive(socket: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_relive"))
        .arg("--host")
        .arg(socket)
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn relive_upgrade_with_two_pairs_moves_a_caller_and_its_callee_as_one_unit() {
    let host = Host::builder().workers(2).build().unwrap();
    let code = host.code_server();
    code.upgrade("dep_callee", fixtures().path("dep_callee_v1")).unwrap();
    code.upgrade("dep_caller", fixtures().path("dep_caller_v1")).unwrap();
    let _callee: relive_runtime::AnyActor = host
        .spawn_encoded(
            "dep_callee",
            &[],
            relive_runtime::codec::Fingerprint::of::<()>(),
            SpawnOptions::new().name("dep_callee"),
        )
        .unwrap();
    let dir = fixtures().scratch();
    let socket = dir.path().join("admin.sock");
    let _admin = host.serve_admin(&socket).unwrap();
    let (caller_v2, callee_v2) =
        (fixtures().path("dep_caller_v2"), fixtures().path("dep_callee_v2"));

    // One pair alone breaks the dependant: refused, with the reason.
    let o = relive(&socket, &["upgrade", "dep_callee", callee_v2.to_str().unwrap()]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("would break `dep_caller`"), "{}", text(&o));
    assert_eq!(code.current("dep_callee").unwrap().version().to_string(), "1.0.0");

    // Both, caller first on the command line: one unit, callee first.
    let o = relive(
        &socket,
        &[
            "--json",
            "upgrade",
            "dep_caller",
            caller_v2.to_str().unwrap(),
            "dep_callee",
            callee_v2.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let out: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        out["Migration"]["modules"],
        serde_json::json!(["dep_callee", "dep_caller"]),
        "{out}"
    );
    for m in ["dep_callee", "dep_caller"] {
        assert_eq!(code.current(m).unwrap().version().to_string(), "2.0.0");
    }

    // An odd list is a usage error, sent nowhere.
    let o = relive(&socket, &["upgrade", "a", "a.so", "b"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}
