//! The observer page in a real headless Chromium, driven over CDP: a host
//! with real counter cdylibs under a supervisor goes through a gradual
//! upgrade (aborted, then promoted with the page's buttons), an explicit
//! rollback, an upgrade to a crashy build and the supervisor's crash-loop
//! rollback; after each step the test reads what the page shows.
//!
//! Without Chromium (`/usr/bin/chromium`, or `RELIVE_CHROMIUM`) the test
//! prints a loud SKIP line and returns; the HTTP and SSE behaviour is
//! tested without a browser in tests/http.rs.

#[path = "common/cdp.rs"]
mod cdp;
mod common;

use common::{counter_tree, eventually};
use counter_api::CounterMsg;
use relive_observer::{Observer, ObserverOptions};
use relive_runtime::host::{Canary, UpgradeMode, UpgradeOptions};
use relive_test_support::fixtures;

/// A JavaScript expression: the text of the first element matching `css`.
fn text(css: &str) -> String {
    format!("(document.querySelector({css:?})?.textContent ?? '')")
}

#[test]
fn the_page_follows_upgrades_canaries_and_a_crash_loop_rollback() {
    let Some(chromium) = cdp::chromium() else {
        eprintln!(
            "\n*** SKIP: observer browser test — no Chromium (RELIVE_CHROMIUM, else \
             /usr/bin/chromium: apt-get install chromium). The HTTP/SSE tests ran. ***\n"
        );
        return;
    };
    let (host, sup, refs) = counter_tree();
    let obs = Observer::serve(&host.handle(), ObserverOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let shots = dir.path();
    let mut page = cdp::Browser::launch(&chromium, shots);
    page.navigate(obs.url());

    // The tree as it starts: v1, three children, the page live.
    page.wait_for("v1 shown", 20, &format!("{} === '1.0.0'", text("#module-counter .current")));
    page.wait_for("live", 10, &format!("{} === 'live'", text("#connection")));
    page.wait_for("three children", 10, "document.querySelectorAll('.tree tr.child').length === 3");
    for r in &refs {
        r.call(CounterMsg::Add(2)).unwrap();
    }
    page.wait_for("counts", 10, &format!("{} === '3'", text("#module-counter .current-actors")));
    page.wait_for(
        "load in the timeline",
        10,
        "!!document.querySelector('#timeline li[data-action=load]')",
    );

    // A gradual upgrade to v2 with one canary: the page offers its buttons.
    let gradual =
        |force| UpgradeOptions::new().mode(UpgradeMode::Gradual(Canary::Count(1))).force(force);
    let v2 = fixtures().path("counter_v2");
    host.code_server().upgrade_with("counter", v2, gradual(false)).unwrap();
    page.wait_for("canary panel", 10, &format!("{} === '1'", text("#canary-counter .canaries")));
    assert_eq!(page.eval(&text("#module-counter .current")), "2.0.0");
    assert_eq!(page.eval(&text("#module-counter .old-actors")), "2");
    page.screenshot(&shots.join("1-canary.png"));

    // Abort from the page: everyone back on v1.
    page.eval("document.querySelector('#abort-counter').click()");
    page.wait_for("aborted", 10, &format!("{}.includes('aborted')", text("#last-action")));
    page.wait_for("v1 again", 10, &format!("{} === '1.0.0'", text("#module-counter .current")));
    page.wait_for("panel gone", 10, "document.querySelector('#gradual-section').hidden");
    assert!(host.code_server().canaries("counter").is_none());

    // Again, and promote from the page: everyone on v2.
    host.code_server().upgrade_with("counter", v2, gradual(true)).unwrap();
    page.wait_for("canary panel again", 10, "!!document.querySelector('#promote-counter')");
    page.eval("document.querySelector('#promote-counter').click()");
    page.wait_for("promoted", 10, &format!("{}.includes('promoted')", text("#last-action")));
    page.wait_for("all on v2", 10, &format!("{} === '3'", text("#module-counter .current-actors")));
    assert_eq!(page.eval(&text("#module-counter .current")), "2.0.0");
    assert_eq!(page.eval(&text("#module-counter .old-actors")), "0");
    assert!(host.code_server().canaries("counter").is_none());
    assert_eq!(host.code_server().current("counter").unwrap().version().to_string(), "2.0.0");
    let hash = host.code_server().current("counter").unwrap().hash().to_string();
    assert_eq!(page.eval("document.querySelector('#module-counter .current-hash').title"), hash);
    page.screenshot(&shots.join("2-promoted.png"));

    // An actor's detail: its counters and its state through sys get_state.
    let b = refs[1].id().get();
    page.eval(&format!("document.querySelector('#actor-{b}').click()"));
    page.wait_for("detail", 10, &format!("{}.includes('22')", text("#detail-state")));
    assert_eq!(page.eval(&text("#detail-mailbox")), "0");

    // Back to v1, then the crashy v3; Add(7) crash-loops child a.
    host.code_server().rollback("counter").unwrap();
    page.wait_for("rolled back", 10, &format!("{} === '1.0.0'", text("#module-counter .current")));
    host.code_server().upgrade("counter", fixtures().path("counter_v3_crashy")).unwrap();
    page.wait_for("v3 shown", 10, &format!("{} === '3.0.0'", text("#module-counter .current")));
    for k in 0..3 {
        let _ = refs[0].call(CounterMsg::Add(7));
        eventually(&format!("a back after crash {k}"), 10, || {
            refs[0].call(CounterMsg::Get).is_ok()
        });
    }
    assert_eq!(sup.rollbacks().len(), 1, "the supervisor rolled back");
    page.wait_for(
        "the crash-loop rollback in the timeline",
        10,
        "[...document.querySelectorAll('#timeline li[data-action=rollback]')]\
         .some(li => li.textContent.includes('3.0.0 → 1.0.0'))",
    );
    page.wait_for(
        "v1 after the rollback",
        10,
        &format!("{} === '1.0.0'", text("#module-counter .current")),
    );
    page.wait_for("three crashes", 10, &format!("Number({}) >= 3", text("#crash-count")));
    let reasons = page.eval(
        "[...document.querySelectorAll('#crashes li.crash .reason')].map(e => e.textContent).join('\\n')",
    );
    assert!(reasons.as_str().unwrap().contains("v3 bug: cannot add 7"), "{reasons}");
    page.wait_for("markbad", 10, "!!document.querySelector('#timeline li[data-action=markbad]')");
    page.wait_for(
        "a's restarts",
        10,
        &format!(
            "Number({}) >= 2",
            text(&format!("#child-{}-a .restarts", sup.actor().id().get()))
        ),
    );
    // The event log has the rollback and the restarts, in the host's order.
    let log = page.eval(
        "[...document.querySelectorAll('#event-log li')].map(li => li.dataset.kind + ':' + li.dataset.seq)",
    );
    let log: Vec<(String, u64)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let (k, s) = v.as_str().unwrap().split_once(':').unwrap();
            (k.to_owned(), s.parse().unwrap())
        })
        .collect();
    assert!(log.iter().any(|(k, _)| k == "rolled_back"), "{log:?}");
    assert!(log.iter().filter(|(k, _)| k == "restarted").count() >= 2, "{log:?}");
    assert!(log.windows(2).all(|w| w[0].1 > w[1].1), "newest first: {log:?}");
    page.wait_for(
        "a message rate drawn",
        10,
        "!!document.querySelector('#chart-messages polyline')",
    );
    page.screenshot(&shots.join("3-rolled-back.png"));
    if std::env::var_os("RELIVE_SCREENSHOT_DOCS").is_some_and(|v| v == "1") {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/observer.png");
        std::fs::copy(shots.join("3-rolled-back.png"), &docs).unwrap();
        eprintln!("wrote {}", docs.display());
    }
    eprintln!("screenshots in {}", shots.display());
    // Keep them when asked (the temp dir goes with the test otherwise).
    if std::env::var_os("RELIVE_KEEP_SCREENSHOTS").is_some() {
        let _ = dir.keep();
    }
}
