//! The billing service: an HTTP API whose accounts are relive actors.
//!
//! Every account is one actor of the `billing` module, started under a
//! dynamic (`simple_one_for_one`) supervisor; request handlers call it with
//! `call_async`. Upgrading `billing` — through the admin socket and the
//! `relive` CLI — migrates every account's state while requests keep coming.
//!
//! Endpoints:
//! - `POST /charge/{account}?amount=N` — charge an order; answers the version
//!   that priced it, what it added and the balance;
//! - `GET /account/{account}` — the account, as the running version sees it;
//! - `GET /version` — the module's current and old versions;
//! - `GET /books` — the sum of every account's balance, and the cents the
//!   service acknowledged with a 200: equal when no state was lost;
//! - `GET /ledger` — every account's balance against the sum of its rows in
//!   the ledger database: `mismatches` counts the accounts where they differ.
//!
//! Every charge is written to the ledger database through the host's
//! `ledger` port ([`ledger`]; SQLite by default, PostgreSQL on request): the
//! account's handler sends the write and defers its reply; the port's answer
//! comes back to the account (whichever version it runs by then), which
//! adds the charge to its balance and answers the HTTP handler. A charge the
//! ledger did not commit is answered 503 and charged nowhere.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use billing_api::{BillingMsg, BillingReply};
use relive::supervisor::{Child, ChildSpec, ChildStart, Flags, Strategy, Supervisor};
use relive::{ActorRef, HostHandle};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub mod ledger;
pub use ledger::{Ledger, LedgerError};

/// An account's actor.
pub type Account = ActorRef<BillingMsg, BillingReply>;

/// What the HTTP handlers share.
#[derive(Debug)]
pub struct Service {
    host: HostHandle,
    accounts: Vec<Account>,
    supervisor: Supervisor,
    /// Cents the service has acknowledged (a 200 to a charge): what the
    /// balances must add up to.
    acknowledged: AtomicU64,
    ledger: Ledger,
}

impl Service {
    /// Register the `ledger` port on `ledger`, then start `accounts` account
    /// actors of the loaded `billing` module under a dynamic supervisor
    /// (crash-loop probation on).
    ///
    /// # Errors
    /// The port could not be registered, or an account could not start.
    pub fn start(host: &HostHandle, accounts: u64, ledger: Ledger) -> Result<Arc<Self>, String> {
        let port = ledger.clone();
        host.port(billing_api::LEDGER_PORT, move |w: billing_api::LedgerWrite| {
            let ledger = port.clone();
            async move { ledger.write(w).await }
        })
        .map_err(|e| e.to_string())?;
        // One template: each account's init args are its id.
        let template = Child::new(
            ChildSpec::worker("account", &["billing"]),
            ChildStart::module("billing", &0u64),
        );
        let supervisor = Supervisor::start(
            host,
            Flags::new(Strategy::SimpleOneForOne).intensity(100, std::time::Duration::from_secs(1)),
            vec![template],
        )
        .map_err(|e| e.to_string())?;
        let mut refs = Vec::new();
        for id in 0..accounts {
            let child = supervisor
                .start_simple_child(&id)
                .map_err(|e| e.to_string())?
                .ok_or("an account's init returned ignore")?;
            refs.push(child.typed().map_err(|e| e.to_string())?);
        }
        Ok(Arc::new(Service {
            host: host.clone(),
            accounts: refs,
            supervisor,
            acknowledged: AtomicU64::new(0),
            ledger,
        }))
    }

    /// The accounts' supervisor.
    pub fn supervisor(&self) -> &Supervisor {
        &self.supervisor
    }

    /// The HTTP routes.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/charge/{account}", post(charge))
            .route("/account/{account}", get(account))
            .route("/version", get(version))
            .route("/books", get(books))
            .route("/ledger", get(ledger_check))
            .with_state(Arc::clone(self))
    }
}

#[derive(Debug, Deserialize)]
struct ChargeQuery {
    amount: Option<u64>,
}

fn reply_json(r: &BillingReply) -> Value {
    json!({
        "version": r.version,
        "balance": r.balance,
        "added": r.added,
        "orders": r.orders,
        "charged": r.charged,
    })
}

async fn ask(svc: &Service, id: u64, msg: BillingMsg) -> Result<Json<Value>, (StatusCode, String)> {
    let account =
        svc.accounts.get(id as usize).ok_or((StatusCode::NOT_FOUND, format!("no account {id}")))?;
    match account.call_async(msg).await {
        Ok(r) if matches!(msg, BillingMsg::Charge { .. }) && !r.charged => {
            Err((StatusCode::SERVICE_UNAVAILABLE, "the ledger did not commit the charge".into()))
        }
        Ok(r) => Ok(Json(reply_json(&r))),
        Err(e) => Err((StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
    }
}

async fn charge(
    State(svc): State<Arc<Service>>,
    Path(id): Path<u64>,
    Query(q): Query<ChargeQuery>,
) -> Result<Json<Value>, (StatusCode, String)> {
    // In its own task: a client that goes away (wrk stopping with requests
    // in flight) drops this handler, but the charge, once sent to the
    // account, completes and is counted all the same.
    let task = tokio::spawn(async move {
        let answer = ask(&svc, id, BillingMsg::Charge { amount: q.amount.unwrap_or(1) }).await?;
        // ORDERING: a counter read after the load stops.
        svc.acknowledged.fetch_add(answer["added"].as_u64().unwrap_or(0), Ordering::Relaxed);
        Ok(answer)
    });
    task.await.map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
}

async fn account(
    State(svc): State<Arc<Service>>,
    Path(id): Path<u64>,
) -> Result<Json<Value>, (StatusCode, String)> {
    ask(&svc, id, BillingMsg::Balance).await
}

async fn version(State(svc): State<Arc<Service>>) -> Json<Value> {
    let which = svc.host.code_server().which("billing");
    Json(json!({
        "current": which.as_ref().map(|w| w.current.version.to_string()),
        "old": which.as_ref().and_then(|w| w.old.as_ref().map(|o| o.version.to_string())),
        "rollbacks": svc.supervisor.rollbacks().len(),
    }))
}

async fn books(State(svc): State<Arc<Service>>) -> Result<Json<Value>, (StatusCode, String)> {
    // A consistent view: the acknowledged total must not move while the
    // balances are summed (charges still in flight would skew the two).
    loop {
        // ORDERING: see `charge`.
        let before = svc.acknowledged.load(Ordering::Relaxed);
        let mut total = 0u64;
        let mut orders = 0u64;
        for a in &svc.accounts {
            let r = a
                .call_async(BillingMsg::Balance)
                .await
                .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
            total += r.balance;
            orders += r.orders;
        }
        let after = svc.acknowledged.load(Ordering::Relaxed);
        if before == after {
            return Ok(Json(json!({
                "accounts": svc.accounts.len(),
                "total_balance": total,
                "orders": orders,
                "acknowledged": after,
            })));
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn ledger_check(
    State(svc): State<Arc<Service>>,
) -> Result<Json<Value>, (StatusCode, String)> {
    let unavailable = |e: String| (StatusCode::SERVICE_UNAVAILABLE, e);
    // Compared once no write is in flight (bounded: 10 s), so that a row
    // committed but not yet answered is not counted as a mismatch.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while svc.host.port_requests_in_flight() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let rows = svc.ledger.balances().await.map_err(|e| unavailable(e.to_string()))?;
    let mut mismatches = 0u64;
    let (mut balances, mut ledger_total) = (0u64, 0u64);
    for (id, a) in svc.accounts.iter().enumerate() {
        let r = a.call_async(BillingMsg::Balance).await.map_err(|e| unavailable(e.to_string()))?;
        let written = rows.get(&(id as u64)).copied().unwrap_or(0);
        if written != r.balance {
            mismatches += 1;
        }
        balances += r.balance;
        ledger_total += written;
    }
    Ok(Json(json!({
        "database": svc.ledger.kind(),
        "accounts": svc.accounts.len(),
        "mismatches": mismatches,
        "total_balance": balances,
        "ledger_total": ledger_total,
    })))
}
