//! A minimal Chrome DevTools Protocol client: headless Chromium started as
//! a child process, one WebSocket (tokio-tungstenite) to its browser
//! endpoint, one flattened session per page. Calls are sequential: send a
//! command with an id, read until the answer with that id (events between
//! are dropped). That is all a test that drives a page and reads its DOM
//! needs; a driver crate (chromiumoxide, fantoccini) would bring far more.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Where Debian puts Chromium (`RELIVE_CHROMIUM` overrides).
pub(crate) fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("RELIVE_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    path.exists().then_some(path)
}

/// A headless Chromium and one page in it.
pub(crate) struct Browser {
    child: Child,
    rt: tokio::runtime::Runtime,
    ws: Ws,
    next_id: u64,
    session: String,
}

impl Browser {
    /// Start `binary` with a fresh profile in `dir` and open a blank page.
    pub(crate) fn launch(binary: &Path, dir: &Path) -> Browser {
        let profile = dir.join("profile");
        std::fs::create_dir_all(&profile).unwrap();
        let log = std::fs::File::create(dir.join("chromium.log")).unwrap();
        let child = Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start chromium");
        // Chromium writes its port and browser endpoint there once it listens.
        let port_file = profile.join("DevToolsActivePort");
        let deadline = Instant::now() + Duration::from_secs(30);
        let endpoint = loop {
            if let Ok(s) = std::fs::read_to_string(&port_file) {
                let mut lines = s.lines();
                if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                    break format!("ws://127.0.0.1:{port}{path}");
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromium wrote no DevToolsActivePort; its log: {}",
                std::fs::read_to_string(dir.join("chromium.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (ws, _) = rt.block_on(tokio_tungstenite::connect_async(endpoint)).expect("CDP socket");
        let mut b = Browser { child, rt, ws, next_id: 0, session: String::new() };
        let target = b.browser_call("Target.createTarget", json!({ "url": "about:blank" }));
        let target = target["targetId"].as_str().unwrap().to_owned();
        let attached =
            b.browser_call("Target.attachToTarget", json!({ "targetId": target, "flatten": true }));
        b.session = attached["sessionId"].as_str().unwrap().to_owned();
        b.call("Page.enable", json!({}));
        b.call("Runtime.enable", json!({}));
        b.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": 1400, "height": 1500, "deviceScaleFactor": 1, "mobile": false }),
        );
        b
    }

    fn send(&mut self, method: &str, params: Value, session: Option<String>) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let ws = &mut self.ws;
        self.rt.block_on(async move {
            ws.send(Message::text(msg.to_string())).await.expect("CDP send");
            let answer = tokio::time::timeout(Duration::from_secs(30), async {
                while let Some(m) = ws.next().await {
                    let Ok(Message::Text(t)) = m else { continue };
                    let v: Value = serde_json::from_str(&t).expect("CDP JSON");
                    if v["id"] == id {
                        return v;
                    }
                }
                panic!("the CDP socket closed");
            })
            .await
            .unwrap_or_else(|_| panic!("no CDP answer to {method}"));
            assert!(answer.get("error").is_none(), "{method}: {answer}");
            answer["result"].clone()
        })
    }

    fn browser_call(&mut self, method: &str, params: Value) -> Value {
        self.send(method, params, None)
    }

    /// A command to the page.
    pub(crate) fn call(&mut self, method: &str, params: Value) -> Value {
        let s = self.session.clone();
        self.send(method, params, Some(s))
    }

    /// Open `url` in the page.
    pub(crate) fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", json!({ "url": url }));
    }

    /// Evaluate a JavaScript expression in the page; its value as JSON.
    pub(crate) fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        assert!(r.get("exceptionDetails").is_none(), "{expression}: {r}");
        r["result"]["value"].clone()
    }

    /// Wait until `expression` is true in the page (the DOM the page built
    /// from what the server pushed), at most `secs`.
    pub(crate) fn wait_for(&mut self, what: &str, secs: u64, expression: &str) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if self.eval(expression) == json!(true) {
                return;
            }
            if Instant::now() > deadline {
                let body = self.eval("document.querySelector('main')?.innerText");
                panic!("timed out waiting for {what} ({expression}); the page shows:\n{body}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A PNG of the page, written to `path`.
    pub(crate) fn screenshot(&mut self, path: &Path) {
        use base64::Engine;
        let r = self.call("Page.captureScreenshot", json!({ "format": "png" }));
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().expect("screenshot data"))
            .expect("base64");
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Our own child, by its handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
