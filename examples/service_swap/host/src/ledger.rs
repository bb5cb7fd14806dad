//! The ledger: a real database every charge is written to, through the
//! host's `ledger` port. SQLite (embedded, a file) by default; PostgreSQL
//! when the host is given a `DATABASE_URL`.
//!
//! SQLite writes go to one writer thread that commits them in groups (one
//! transaction for every write waiting when it starts one): each charge is
//! answered once its transaction committed, and a burst costs one commit,
//! not one per row. PostgreSQL writes are single-row inserts on one
//! connection (tokio-postgres pipelines the concurrent ones), each its own
//! transaction.

use billing_api::{LedgerReceipt, LedgerWrite};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};

/// Why the ledger failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// SQLite refused.
    #[error("sqlite")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL refused, or the connection failed.
    #[error("postgres")]
    Postgres(#[from] tokio_postgres::Error),
    /// The SQLite writer thread is gone.
    #[error("the ledger's writer thread is gone")]
    Closed,
    /// The SQLite writer thread could not start.
    #[error("cannot start the ledger's writer thread")]
    Thread(#[source] std::io::Error),
}

/// Writes waiting for the SQLite writer, each with where its receipt goes.
type Job = (LedgerWrite, tokio::sync::oneshot::Sender<Result<LedgerReceipt, String>>);

/// At most this many writes in one SQLite transaction.
const GROUP: usize = 512;

#[derive(Debug)]
enum Backend {
    Sqlite { jobs: mpsc::Sender<Job>, path: PathBuf },
    Postgres { client: tokio_postgres::Client },
}

/// A handle to the ledger (cheap to clone).
#[derive(Debug, Clone)]
pub struct Ledger {
    backend: Arc<Backend>,
}

const SQLITE_SCHEMA: &str = "
    PRAGMA journal_mode = WAL;
    CREATE TABLE IF NOT EXISTS ledger (
        id INTEGER PRIMARY KEY,
        account INTEGER NOT NULL,
        amount INTEGER NOT NULL,
        price INTEGER NOT NULL,
        version INTEGER NOT NULL
    );
    DELETE FROM ledger;";

const POSTGRES_SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS ledger (
        id BIGSERIAL PRIMARY KEY,
        account BIGINT NOT NULL,
        amount BIGINT NOT NULL,
        price BIGINT NOT NULL,
        version INTEGER NOT NULL
    );
    TRUNCATE ledger;";

impl Ledger {
    /// The SQLite ledger in the file `path` (created if need be). The
    /// example's accounts start at zero on every run, so the ledger starts
    /// empty too: its rows are cleared.
    ///
    /// # Errors
    /// The database could not be opened or set up, or the writer thread
    /// could not start.
    pub fn sqlite(path: impl Into<PathBuf>) -> Result<Self, LedgerError> {
        let path = path.into();
        let conn = rusqlite::Connection::open(&path)?;
        conn.execute_batch(SQLITE_SCHEMA)?;
        let (jobs, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || write_groups(&conn, &rx))
            .map_err(LedgerError::Thread)?;
        Ok(Ledger { backend: Arc::new(Backend::Sqlite { jobs, path }) })
    }

    /// The PostgreSQL ledger at `url` (its connection task is spawned on the
    /// calling tokio runtime, which must outlive the ledger). Its rows are
    /// cleared, as for [`sqlite`](Self::sqlite).
    ///
    /// # Errors
    /// The connection or the table's setup failed.
    pub async fn postgres(url: &str) -> Result<Self, LedgerError> {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::error!(error = %e, "the ledger's PostgreSQL connection failed");
            }
        });
        client.batch_execute(POSTGRES_SCHEMA).await?;
        Ok(Ledger { backend: Arc::new(Backend::Postgres { client }) })
    }

    /// Which database: `sqlite` or `postgres`.
    pub fn kind(&self) -> &'static str {
        match &*self.backend {
            Backend::Sqlite { .. } => "sqlite",
            Backend::Postgres { .. } => "postgres",
        }
    }

    /// Write one charge; the receipt once it committed.
    ///
    /// # Errors
    /// The database refused or failed (the message, as the port sends it to
    /// the module).
    pub async fn write(&self, w: LedgerWrite) -> Result<LedgerReceipt, String> {
        match &*self.backend {
            Backend::Sqlite { jobs, .. } => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                jobs.send((w, tx)).map_err(|_| LedgerError::Closed.to_string())?;
                rx.await.map_err(|_| LedgerError::Closed.to_string())?
            }
            Backend::Postgres { client } => {
                let row = client
                    .query_one(
                        "INSERT INTO ledger (account, amount, price, version) \
                         VALUES ($1, $2, $3, $4) RETURNING id",
                        &[
                            &to_i64(w.account),
                            &to_i64(w.amount),
                            &to_i64(w.price),
                            &(w.version as i32),
                        ],
                    )
                    .await
                    .map_err(|e| error_chain(&e))?;
                Ok(LedgerReceipt { row: row.get(0) })
            }
        }
    }

    /// The sum of the prices written per account, committed rows only.
    ///
    /// # Errors
    /// The database failed.
    pub async fn balances(&self) -> Result<HashMap<u64, u64>, LedgerError> {
        match &*self.backend {
            Backend::Sqlite { path, .. } => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || sqlite_balances(&path))
                    .await
                    .map_err(|_| LedgerError::Closed)?
            }
            Backend::Postgres { client } => {
                let rows = client
                    .query("SELECT account, SUM(price)::BIGINT FROM ledger GROUP BY account", &[])
                    .await?;
                Ok(rows
                    .iter()
                    .map(|r| (r.get::<_, i64>(0) as u64, r.get::<_, i64>(1) as u64))
                    .collect())
            }
        }
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// An error with its causes, for the module's `PortError::Failed`.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

fn sqlite_balances(path: &Path) -> Result<HashMap<u64, u64>, LedgerError> {
    let conn = rusqlite::Connection::open(path)?;
    let mut stmt = conn.prepare("SELECT account, SUM(price) FROM ledger GROUP BY account")?;
    let rows =
        stmt.query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The SQLite writer: one transaction per group of waiting writes; each
/// answered after the commit (or with the error that failed it).
fn write_groups(conn: &rusqlite::Connection, jobs: &mpsc::Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        while group.len() < GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        match commit(conn, &group) {
            Ok(rows) => {
                for ((_, tx), row) in group.into_iter().zip(rows) {
                    let _ = tx.send(Ok(LedgerReceipt { row }));
                }
            }
            Err(e) => {
                let message = error_chain(&e);
                for (_, tx) in group {
                    let _ = tx.send(Err(message.clone()));
                }
            }
        }
    }
}

fn commit(conn: &rusqlite::Connection, group: &[Job]) -> Result<Vec<i64>, rusqlite::Error> {
    let tx = conn.unchecked_transaction()?;
    let mut rows = Vec::with_capacity(group.len());
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO ledger (account, amount, price, version) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for (w, _) in group {
            stmt.execute((to_i64(w.account), to_i64(w.amount), to_i64(w.price), w.version))?;
            rows.push(tx.last_insert_rowid());
        }
    }
    tx.commit()?;
    Ok(rows)
}
