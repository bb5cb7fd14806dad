//! The HTTP server: the page, its snapshot stream (SSE), per-actor detail
//! and the promote/abort actions, on a thread of its own with its own
//! tokio runtime (a host need not run tokio).

use crate::feed;
use crate::source::Source;
use crate::token;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::routing::{get, post};
use relive_runtime::admin::protocol::{Command, ErrorKind, Output, Response};
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::watch;

const INDEX_HTML: &str = include_str!("../assets/index.html");
const OBSERVER_JS: &str = include_str!("../assets/observer.js");
const OBSERVER_CSS: &str = include_str!("../assets/observer.css");

/// How an observer serves (see [`Observer::serve`]).
#[derive(Debug, Clone)]
pub struct ObserverOptions {
    addr: IpAddr,
    port: u16,
    token: Option<String>,
    allow_non_loopback: bool,
    idle: Duration,
}

impl Default for ObserverOptions {
    /// `127.0.0.1`, a free port, a fresh random token.
    fn default() -> Self {
        ObserverOptions {
            addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            token: None,
            allow_non_loopback: false,
            idle: feed::IDLE_WAIT,
        }
    }
}

impl ObserverOptions {
    /// The port (default 0: a free one).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The address to bind (default `127.0.0.1`). Anything but a loopback
    /// address is refused unless [`allow_non_loopback`](Self::allow_non_loopback).
    pub fn addr(mut self, addr: IpAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Accept a non-loopback address: the page then shows the host (and
    /// lets whoever holds the token promote and abort) over the network,
    /// unencrypted.
    pub fn allow_non_loopback(mut self, allow: bool) -> Self {
        self.allow_non_loopback = allow;
        self
    }

    /// How often a snapshot goes out when nothing happens, for the counters
    /// (default 1 s; kept within 100 ms and the admin protocol's longest
    /// events wait, 5 s). Events are pushed as they happen regardless.
    pub fn idle_refresh(mut self, every: Duration) -> Self {
        let max = Duration::from_millis(relive_runtime::admin::protocol::MAX_EVENTS_WAIT_MS);
        self.idle = every.clamp(Duration::from_millis(100), max);
        self
    }

    /// Use this token instead of a random one (at least 16 characters).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }
}

/// Why an observer did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address is not a loopback one and that was not allowed.
    #[error("refusing to serve the observer on {0}, which is not a loopback address")]
    NotLoopback(IpAddr),
    /// A given token is too short to guess hard.
    #[error("an observer token needs at least 16 characters (got {0})")]
    WeakToken(usize),
    /// No randomness for a token.
    #[error("no randomness for the observer's token")]
    Random(#[source] getrandom::Error),
    /// The address could not be bound, or the server thread not started.
    #[error("cannot serve the observer on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The entry point: `Observer::serve(&host_handle, ObserverOptions::default())`.
#[derive(Debug)]
pub struct Observer;

impl Observer {
    /// Serve the observer page for `source` (a [`HostHandle`](relive_runtime::HostHandle)
    /// for this process's host, an [`AdminSocket`](crate::AdminSocket) or
    /// any [`Source`]) until the returned server is dropped.
    ///
    /// # Errors
    /// [`ServeError`]: a non-loopback address not allowed, a weak token,
    /// no randomness, or the address could not be bound.
    pub fn serve<S: Source + Clone>(
        source: &S,
        options: ObserverOptions,
    ) -> Result<ObserverServer, ServeError> {
        Self::serve_source(Arc::new(source.clone()), options)
    }

    /// As [`serve`](Self::serve), for a shared source.
    ///
    /// # Errors
    /// As [`serve`](Self::serve).
    pub fn serve_source(
        source: Arc<dyn Source>,
        options: ObserverOptions,
    ) -> Result<ObserverServer, ServeError> {
        if !options.addr.is_loopback() && !options.allow_non_loopback {
            return Err(ServeError::NotLoopback(options.addr));
        }
        let token = match options.token {
            Some(t) if t.len() < 16 => return Err(ServeError::WeakToken(t.len())),
            Some(t) => t,
            None => token::fresh().map_err(ServeError::Random)?,
        };
        let wanted = SocketAddr::new(options.addr, options.port);
        let bind = |source| ServeError::Bind { addr: wanted, source };
        let listener = std::net::TcpListener::bind(wanted).map_err(bind)?;
        listener.set_nonblocking(true).map_err(bind)?;
        let addr = listener.local_addr().map_err(bind)?;

        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = watch::channel(Arc::new(String::from("null")));
        let feed = {
            let (source, stop, idle) = (Arc::clone(&source), Arc::clone(&stop), options.idle);
            std::thread::Builder::new()
                .name("relive-observer-feed".into())
                .spawn(move || feed::run(source, tx, stop, idle))
                .map_err(bind)?
        };
        let state = AppState { source, token: Arc::from(token.as_str()), snapshots: rx };
        let (quit_tx, quit_rx) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("relive-observer")
            .build()
            .map_err(bind)?;
        let server = std::thread::Builder::new()
            .name("relive-observer".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::error!(error = %e, "observer listener unusable");
                            return;
                        }
                    };
                    let serve = axum::serve(listener, router(state));
                    tokio::select! {
                        r = serve => if let Err(e) = r {
                            tracing::error!(error = %e, "observer server failed");
                        },
                        _ = quit_rx => {}
                    }
                });
                // Open SSE streams end with the runtime.
                runtime.shutdown_timeout(Duration::from_millis(200));
            })
            .map_err(bind)?;
        let url = format!(
            "http://{addr}/?token={}",
            form_urlencoded::byte_serialize(token.as_bytes()).collect::<String>()
        );
        tracing::info!(%addr, "observer serving");
        Ok(ObserverServer {
            addr,
            token,
            url,
            stop,
            quit: Some(quit_tx),
            threads: vec![server, feed],
        })
    }
}

/// A running observer; dropping it stops the server and its feed.
#[derive(Debug)]
pub struct ObserverServer {
    addr: SocketAddr,
    token: String,
    url: String,
    stop: Arc<AtomicBool>,
    quit: Option<tokio::sync::oneshot::Sender<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl ObserverServer {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The token a request must carry.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The page's address, token included: open it in a browser.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Block until the server ends (it does not on its own: for a process
    /// that only observes, such as `relive observe`).
    pub fn wait(mut self) {
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for ObserverServer {
    fn drop(&mut self) {
        // ORDERING: the feed reads it within its idle period; joining orders the rest.
        self.stop.store(true, Ordering::Relaxed);
        if let Some(q) = self.quit.take() {
            let _ = q.send(());
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[derive(Clone)]
struct AppState {
    source: Arc<dyn Source>,
    token: Arc<str>,
    snapshots: watch::Receiver<Arc<String>>,
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/assets/observer.js", get(|| asset(OBSERVER_JS, "text/javascript")))
        .route("/assets/observer.css", get(|| asset(OBSERVER_CSS, "text/css")))
        .route("/api/snapshot", get(snapshot))
        .route("/api/events", get(events))
        .route("/api/actor/{id}", get(actor))
        .route("/api/promote/{module}", post(promote))
        .route("/api/abort/{module}", post(abort))
        // issue 16 §2: the source's metrics (`Source::metrics`), token-checked.
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn asset(body: &'static str, mime: &'static str) -> HttpResponse {
    ([(header::CONTENT_TYPE, mime)], body).into_response()
}

fn unauthorized() -> HttpResponse {
    (
        StatusCode::UNAUTHORIZED,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "the observer needs its token: open the URL it printed (…/?token=…)\n",
    )
        .into_response()
}

/// Whether the request carries the token.
fn check(state: &AppState, query: Option<&str>, headers: &HeaderMap, cookie_ok: bool) -> bool {
    token::offered(&state.token, query, headers, cookie_ok)
}

async fn index(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> HttpResponse {
    if !check(&state, query.as_deref(), &headers, true) {
        return unauthorized();
    }
    let cookie =
        format!("{}={}; Path=/; HttpOnly; SameSite=Strict", token::COOKIE_NAME, state.token);
    let mut r = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX_HTML).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn json_response(status: StatusCode, body: String) -> HttpResponse {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn snapshot(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> HttpResponse {
    if !check(&state, query.as_deref(), &headers, true) {
        return unauthorized();
    }
    let body = state.snapshots.borrow().as_str().to_owned();
    json_response(StatusCode::OK, body)
}

/// The snapshots as server-sent events: the current one at once, then each
/// new one as the feed publishes it.
async fn events(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> HttpResponse {
    if !check(&state, query.as_deref(), &headers, true) {
        return unauthorized();
    }
    let mut rx = state.snapshots.clone();
    rx.mark_changed();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.changed().await.ok()?;
        let data = rx.borrow_and_update().as_str().to_owned();
        Some((Ok::<_, std::convert::Infallible>(Event::default().event("snapshot").data(data)), rx))
    });
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

/// Why an action or a detail did not happen, as the page and scripts read
/// it: `{"error": kind, "message": text}` with a status that says who
/// refused (409 the host, 404 no such module or actor, 502 the source).
#[derive(Debug)]
struct Failure {
    status: StatusCode,
    error: String,
    message: String,
}

impl Failure {
    fn refused(kind: ErrorKind, message: String) -> Failure {
        let status = match kind {
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Refused => StatusCode::CONFLICT,
            ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
            ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
        };
        Failure { status, error: format!("{kind:?}"), message }
    }

    fn response(self) -> HttpResponse {
        let body = json!({ "error": self.error, "message": self.message });
        json_response(self.status, body.to_string())
    }
}

/// Ask the source on a blocking thread.
async fn ask(state: &AppState, command: Command) -> Result<Output, Failure> {
    let source = Arc::clone(&state.source);
    let answer = tokio::task::spawn_blocking(move || source.request(command)).await;
    let failure = |status, error: &str, message: String| {
        Err(Failure { status, error: error.into(), message })
    };
    match answer {
        Ok(Ok(Response::Done(out))) => Ok(out),
        Ok(Ok(Response::Error { kind, message })) => Err(Failure::refused(kind, message)),
        Ok(Ok(Response::Progress { .. })) => {
            failure(StatusCode::BAD_GATEWAY, "Protocol", "a progress line as an answer".into())
        }
        Ok(Err(e)) => failure(StatusCode::BAD_GATEWAY, "Source", feed::error_chain(&e)),
        Err(e) => failure(StatusCode::INTERNAL_SERVER_ERROR, "Internal", e.to_string()),
    }
}

fn done(out: &Output) -> HttpResponse {
    json_response(StatusCode::OK, serde_json::to_string(out).unwrap_or_default())
}

/// An actor's counters and state (`sys` statistics and get_state); a state
/// its module cannot show is reported in `state_error`, the counters still.
async fn actor(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> HttpResponse {
    if !check(&state, query.as_deref(), &headers, true) {
        return unauthorized();
    }
    let stats = match ask(&state, Command::Stats { actor: id.clone() }).await {
        Ok(o) => o,
        Err(f) => return f.response(),
    };
    let (st, state_error) = match ask(&state, Command::State { actor: id, replace: None }).await {
        Ok(Output::State { state, .. }) => {
            (serde_json::from_str::<serde_json::Value>(&state).unwrap_or(json!(state)), None)
        }
        Ok(other) => (serde_json::Value::Null, Some(format!("unexpected answer {other:?}"))),
        Err(f) => (serde_json::Value::Null, Some(f.message)),
    };
    let body = json!({ "stats": stats, "state": st, "state_error": state_error });
    json_response(StatusCode::OK, body.to_string())
}

async fn metrics(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> HttpResponse {
    if !check(&state, query.as_deref(), &headers, true) {
        return unauthorized();
    }
    let source = Arc::clone(&state.source);
    match tokio::task::spawn_blocking(move || source.metrics()).await {
        Ok(Some(Ok(text))) => {
            ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text)
                .into_response()
        }
        Ok(None) => Failure {
            status: StatusCode::NOT_FOUND,
            error: "NotFound".into(),
            message: "this observer's source has no metrics".into(),
        }
        .response(),
        Ok(Some(Err(e))) => Failure {
            status: StatusCode::BAD_GATEWAY,
            error: "Source".into(),
            message: feed::error_chain(&e),
        }
        .response(),
        Err(e) => Failure {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: "Internal".into(),
            message: e.to_string(),
        }
        .response(),
    }
}

async fn promote(
    State(state): State<AppState>,
    Path(module): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> HttpResponse {
    if !check(&state, query.as_deref(), &headers, false) {
        return unauthorized();
    }
    match ask(&state, Command::Promote { module }).await {
        Ok(o) => done(&o),
        Err(f) => f.response(),
    }
}

async fn abort(
    State(state): State<AppState>,
    Path(module): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> HttpResponse {
    if !check(&state, query.as_deref(), &headers, false) {
        return unauthorized();
    }
    match ask(&state, Command::Abort { module, force: false }).await {
        Ok(o) => done(&o),
        Err(f) => f.response(),
    }
}
