//! `service-swap-host --listen 127.0.0.1:PORT --admin SOCKET --module PATH
//! [--accounts N] [--state DIR] [--ledger FILE]`: the billing service.
//! Upgrade it with `relive --host SOCKET upgrade billing PATH`. Its state
//! directory (bad-build marks, history, private copies) is DIR, by default
//! next to the socket (`admin.sock` → `admin.state`). Every charge is written
//! to a ledger database: PostgreSQL at `$DATABASE_URL` when it is set, else
//! the SQLite file FILE (default `DIR/ledger.sqlite3`).

use relive::Host;
use service_swap_host::{Ledger, Service};

fn arg(args: &[String], flag: &str) -> Option<String> {
    args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing_subscriber::filter::LevelFilter::WARN)
        .init();
    let args: Vec<String> = std::env::args().collect();
    let listen = arg(&args, "--listen").unwrap_or_else(|| "127.0.0.1:8080".into());
    let admin = arg(&args, "--admin").ok_or("--admin SOCKET is required")?;
    let module = arg(&args, "--module").ok_or("--module PATH (billing v1) is required")?;
    let accounts: u64 = arg(&args, "--accounts").map_or(Ok(1000), |a| a.parse())?;
    let state = arg(&args, "--state")
        .map_or_else(|| std::path::Path::new(&admin).with_extension("state"), Into::into);

    let ledger_file =
        arg(&args, "--ledger").map_or_else(|| state.join("ledger.sqlite3"), Into::into);

    let host = Host::builder().state_dir(&state).build()?;
    host.code_server().upgrade("billing", module.as_str())?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let ledger = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => rt.block_on(Ledger::postgres(&url))?,
        _ => Ledger::sqlite(ledger_file)?,
    };
    eprintln!("ledger: {}", ledger.kind());
    let service = Service::start(&host, accounts, ledger)?;
    let _admin = host.serve_admin(&admin)?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen).await?;
        println!("listening on http://{} with {accounts} accounts", listener.local_addr()?);
        axum::serve(listener, service.router()).await
    })?;
    Ok(())
}
