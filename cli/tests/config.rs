//! issue 17: `relive config` and the `configs:` section of `relive status`
//! against an in-process host (its admin socket served to the real `relive`
//! binary) whose configuration file is rewritten, broken and fixed.

use relive_runtime::Host;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

#[derive(Debug, serde::Deserialize)]
struct Limits {
    #[allow(dead_code)]
    max_sessions: u32,
}

fn relive(socket: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_relive"))
        .arg("--host")
        .arg(socket)
        .args(args)
        .output()
        .unwrap()
}

fn ok(socket: &Path, args: &[&str]) -> String {
    let o = relive(socket, args);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{args:?}: {out}{}", String::from_utf8_lossy(&o.stderr));
    out
}

fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn relive_config_shows_the_revision_and_the_last_refusal() {
    let host = Host::builder().workers(1).build().unwrap();
    let dir = relive_test_support::fixtures().scratch();
    let socket = dir.path().join("admin.sock");
    let _admin = host.serve_admin(&socket).unwrap();

    assert_eq!(ok(&socket, &["config"]), "no configuration\n");
    assert!(!ok(&socket, &["status"]).contains("configs:"), "no section without configurations");

    let path = dir.path().join("limits.toml");
    std::fs::write(&path, "max_sessions = 10\n").unwrap();
    let limits = host
        .config_with(&path, |l: &Limits| {
            if l.max_sessions == 0 { Err("max_sessions must be at least 1") } else { Ok(()) }
        })
        .unwrap();
    let shown = path.display().to_string();

    let out = ok(&socket, &["config"]);
    assert!(out.starts_with(&format!("{shown} (toml)\n  revision:   1, applied ")), "{out}");
    assert!(out.contains("last error: none (the file on disk is in force)"), "{out}");

    std::fs::write(&path, "max_sessions = 11\n").unwrap();
    eventually("revision 2", || limits.revision() == 2);
    std::fs::write(&path, "max_sessions = 0\n").unwrap();
    eventually("the refusal", || limits.last_error().is_some());

    let out = ok(&socket, &["config"]);
    assert!(out.contains("revision:   2, applied"), "{out}");
    assert!(out.contains("the old configuration stays in force"), "{out}");
    assert!(
        out.contains(&format!(
            "    reason: {shown}: refused by validation: max_sessions must be at least 1\n"
        )),
        "{out}"
    );
    let status = ok(&socket, &["status"]);
    assert!(
        status.contains(&format!(
            "\nconfigs:\n  {shown} (toml): revision 2, last change REFUSED: {shown}: refused by validation"
        )),
        "{status}"
    );

    let json: serde_json::Value =
        serde_json::from_str(&ok(&socket, &["--json", "config"])).unwrap();
    let c = &json["Config"]["configs"][0];
    assert_eq!(
        (c["path"].as_str(), c["format"].as_str(), c["revision"].as_u64()),
        (Some(shown.as_str()), Some("toml"), Some(2))
    );
    assert!(c["last_error"].as_str().unwrap().contains("must be at least 1"));
    assert!(c["last_error_at"].as_u64().is_some());
    let json: serde_json::Value =
        serde_json::from_str(&ok(&socket, &["--json", "status"])).unwrap();
    assert_eq!(json["Status"]["configs"][0]["revision"], 2);

    // Fixed: the error is gone.
    std::fs::write(&path, "max_sessions = 12\n").unwrap();
    eventually("revision 3", || limits.revision() == 3);
    let out = ok(&socket, &["config"]);
    assert!(out.contains("revision:   3,") && out.contains("last error: none"), "{out}");
}
