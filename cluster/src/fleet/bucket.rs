//! The fleet's two JetStream buckets, opened (or created) by whoever comes
//! first, and the typed, bounded operations on them: every call here ends
//! within its timeout.
//!
//! | bucket | key / object | value |
//! |---|---|---|
//! | `relive-<cluster>-fleet` (key-value) | `desired.<module>` | [`Desired`](super::Desired): the promoted build and a rollout's candidate |
//! | | `lock` | [`Lock`](super::Lock): the rollout that holds the fleet (created with compare-and-set) |
//! | | `host.<node>` | [`HostReport`](super::HostReport): each module's version, step, error and counters |
//! | | `rollout.<module>` | [`RolloutState`](super::RolloutState): the module's last rollout and its phase |
//! | `relive-<cluster>-modules` (object store) | `<module>-<hash>.so`, `<module>-<hash>.so.sig` | a module library and its signature |

use super::error::FleetError;
use async_nats::jetstream::{self, kv, object_store};
use futures_util::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

/// The key-value bucket of cluster `cluster`.
pub fn kv_bucket(cluster: &str) -> String {
    format!("relive-{cluster}-fleet")
}

/// The object store bucket of cluster `cluster`.
pub fn object_bucket(cluster: &str) -> String {
    format!("relive-{cluster}-modules")
}

pub(crate) const LOCK: &str = "lock";
pub(crate) const DESIRED_PREFIX: &str = "desired.";
pub(crate) const HOST_PREFIX: &str = "host.";

pub(crate) fn desired_key(module: &str) -> String {
    format!("{DESIRED_PREFIX}{module}")
}

pub(crate) fn host_key(node: &str) -> String {
    format!("{HOST_PREFIX}{node}")
}

pub(crate) fn rollout_key(module: &str) -> String {
    format!("rollout.{module}")
}

/// The object of `module`'s build `hash`.
pub(crate) fn object_name(module: &str, hash: &str) -> String {
    format!("{module}-{hash}.so")
}

/// The object of its signature.
pub(crate) fn signature_object(object: &str) -> String {
    format!("{object}.sig")
}

/// The buckets of one cluster, with the bound of one operation.
#[derive(Clone)]
pub(crate) struct Buckets {
    pub(crate) kv: kv::Store,
    pub(crate) objects: object_store::ObjectStore,
    /// The bound of one key-value operation.
    pub(crate) op_timeout: Duration,
}

impl std::fmt::Debug for Buckets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buckets").field("kv", &self.kv.name).finish()
    }
}

/// Retry `attempt` (each bounded by `op_timeout`) until it succeeds or
/// `timeout` passes: a JetStream cluster answers "temporarily unavailable"
/// while it elects a leader.
async fn retry<T, F, Fut>(
    bucket: &str,
    timeout: Duration,
    op_timeout: Duration,
    mut attempt: F,
) -> Result<T, FleetError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, async_nats::Error>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let last: async_nats::Error =
            match tokio::time::timeout(left.min(op_timeout), attempt()).await {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(e)) => e,
                Err(_) => format!("no answer within {:?}", left.min(op_timeout)).into(),
            };
        if Instant::now() >= deadline {
            return Err(FleetError::Bucket { bucket: bucket.to_owned(), timeout, source: last });
        }
        tokio::time::sleep(Duration::from_millis(100).min(left)).await;
    }
}

impl Buckets {
    /// Open the buckets of `cluster`, creating them (with `replicas`
    /// copies) if nobody has, within `timeout`.
    pub(crate) async fn open(
        client: async_nats::Client,
        cluster: &str,
        replicas: usize,
        timeout: Duration,
        op_timeout: Duration,
    ) -> Result<Buckets, FleetError> {
        let js = jetstream::new(client);
        let name = kv_bucket(cluster);
        let kv = retry(&name, timeout, op_timeout, || {
            let (js, name) = (js.clone(), name.clone());
            async move {
                if let Ok(store) = js.get_key_value(&name).await {
                    return Ok(store);
                }
                let config = kv::Config {
                    bucket: name,
                    description: "relive fleet: desired versions, the rollout lock, host reports"
                        .into(),
                    history: 5,
                    num_replicas: replicas.max(1),
                    ..Default::default()
                };
                js.create_key_value(config).await.map_err(async_nats::Error::from)
            }
        })
        .await?;
        let name = object_bucket(cluster);
        let objects = retry(&name, timeout, op_timeout, || {
            let (js, name) = (js.clone(), name.clone());
            async move {
                if let Ok(store) = js.get_object_store(&name).await {
                    return Ok(store);
                }
                let config = object_store::Config {
                    bucket: name,
                    description: Some("relive fleet: module libraries and signatures".into()),
                    num_replicas: replicas.max(1),
                    ..Default::default()
                };
                js.create_object_store(config).await.map_err(async_nats::Error::from)
            }
        })
        .await?;
        Ok(Buckets { kv, objects, op_timeout })
    }

    async fn bounded<T, E>(
        &self,
        op: &'static str,
        key: &str,
        f: impl Future<Output = Result<T, E>>,
    ) -> Result<Result<T, E>, FleetError> {
        tokio::time::timeout(self.op_timeout, f).await.map_err(|_| FleetError::Timeout {
            op,
            key: key.to_owned(),
            timeout: self.op_timeout,
        })
    }

    /// The value of `key` and its revision, if it holds one.
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<(T, u64)>, FleetError> {
        let entry = self
            .bounded("get", key, self.kv.entry(key))
            .await?
            .map_err(|e| FleetError::Kv { op: "get", key: key.to_owned(), source: e.into() })?;
        match entry {
            Some(e) if e.operation == kv::Operation::Put => {
                let value = serde_json::from_slice(&e.value)
                    .map_err(|source| FleetError::Decode { key: key.to_owned(), source })?;
                Ok(Some((value, e.revision)))
            }
            _ => Ok(None),
        }
    }

    /// The raw entry of `key` (with its server time), if any.
    pub(crate) async fn entry(&self, key: &str) -> Result<Option<kv::Entry>, FleetError> {
        self.bounded("get", key, self.kv.entry(key)).await?.map_err(|e| FleetError::Kv {
            op: "get",
            key: key.to_owned(),
            source: e.into(),
        })
    }

    fn encode<T: Serialize>(key: &str, value: &T) -> Result<Vec<u8>, FleetError> {
        serde_json::to_vec(value)
            .map_err(|source| FleetError::Decode { key: key.to_owned(), source })
    }

    /// Write `value` at `key`, whatever is there.
    pub(crate) async fn put<T: Serialize>(&self, key: &str, value: &T) -> Result<u64, FleetError> {
        let bytes = Self::encode(key, value)?;
        self.bounded("put", key, self.kv.put(key, bytes.into()))
            .await?
            .map_err(|e| FleetError::Kv { op: "put", key: key.to_owned(), source: e.into() })
    }

    /// Write `value` at `key` only if the key holds nothing.
    ///
    /// # Errors
    /// [`FleetError::Conflict`] if it holds a value.
    pub(crate) async fn create<T: Serialize>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<u64, FleetError> {
        let bytes = Self::encode(key, value)?;
        self.bounded("create", key, self.kv.create(key, bytes.into())).await?.map_err(|e| {
            if e.kind() == kv::CreateErrorKind::AlreadyExists {
                FleetError::Conflict { key: key.to_owned() }
            } else {
                FleetError::Kv { op: "create", key: key.to_owned(), source: e.into() }
            }
        })
    }

    /// Write `value` at `key` only if its revision is still `revision`
    /// (0: only if it was never written).
    ///
    /// # Errors
    /// [`FleetError::Conflict`] if it changed.
    pub(crate) async fn update<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        revision: u64,
    ) -> Result<u64, FleetError> {
        let bytes = Self::encode(key, value)?;
        self.bounded("update", key, self.kv.update(key, bytes.into(), revision)).await?.map_err(
            |e| {
                if e.kind() == kv::UpdateErrorKind::WrongLastRevision {
                    FleetError::Conflict { key: key.to_owned() }
                } else {
                    FleetError::Kv { op: "update", key: key.to_owned(), source: e.into() }
                }
            },
        )
    }

    /// Delete `key` if its revision is still `revision`.
    ///
    /// # Errors
    /// [`FleetError::Conflict`] if it changed.
    pub(crate) async fn delete(&self, key: &str, revision: u64) -> Result<(), FleetError> {
        self.bounded("delete", key, self.kv.delete_expect_revision(key, Some(revision)))
            .await?
            .map_err(|e| {
                if e.kind() == kv::UpdateErrorKind::WrongLastRevision {
                    FleetError::Conflict { key: key.to_owned() }
                } else {
                    FleetError::Kv { op: "delete", key: key.to_owned(), source: e.into() }
                }
            })
    }

    /// The keys starting with `prefix`.
    pub(crate) async fn keys(&self, prefix: &str) -> Result<Vec<String>, FleetError> {
        let all = async {
            let mut keys = self.kv.keys().await?;
            let mut out = Vec::new();
            while let Some(k) = keys.next().await {
                let k = k?;
                if k.starts_with(prefix) {
                    out.push(k);
                }
            }
            Ok::<_, async_nats::Error>(out)
        };
        let mut keys = self
            .bounded("keys", prefix, all)
            .await?
            .map_err(|source| FleetError::Kv { op: "keys", key: prefix.to_owned(), source })?;
        // A key written while the listing runs can come twice.
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    /// Upload `bytes` as object `name` (replacing one of that name), within
    /// `timeout`.
    pub(crate) async fn put_object(
        &self,
        name: &str,
        bytes: &[u8],
        timeout: Duration,
    ) -> Result<(), FleetError> {
        let mut reader = bytes;
        let put = self.objects.put(name, &mut reader);
        match tokio::time::timeout(timeout, put).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => {
                Err(FleetError::Object { op: "put", name: name.to_owned(), source: e.into() })
            }
            Err(_) => Err(FleetError::Timeout { op: "object put", key: name.to_owned(), timeout }),
        }
    }

    /// Download object `name` whole, within `timeout`.
    ///
    /// The download runs on a task of its own: async-nats' object reader
    /// can hand tokio's `read_to_end` a filled chunk with an error when a
    /// NATS node dies mid-download, which trips a debug assertion — a panic
    /// that would otherwise end the caller's task (the agent's watch loop).
    /// It is an error of the download instead.
    pub(crate) async fn get_object(
        &self,
        name: &str,
        timeout: Duration,
    ) -> Result<Vec<u8>, FleetError> {
        let (objects, owned) = (self.objects.clone(), name.to_owned());
        let get = tokio::spawn(async move {
            let name = owned;
            let mut object = objects.get(&name).await.map_err(|e| FleetError::Object {
                op: "get",
                name: name.clone(),
                source: e.into(),
            })?;
            let mut bytes = Vec::new();
            object.read_to_end(&mut bytes).await.map_err(|e| FleetError::Object {
                op: "read",
                name: name.clone(),
                source: e.into(),
            })?;
            Ok(bytes)
        });
        let abort = get.abort_handle();
        match tokio::time::timeout(timeout, get).await {
            Ok(Ok(got)) => got,
            Ok(Err(e)) => Err(FleetError::Object {
                op: "read",
                name: name.to_owned(),
                source: format!("the download failed: {e}").into(),
            }),
            Err(_) => {
                abort.abort();
                Err(FleetError::Timeout { op: "object get", key: name.to_owned(), timeout })
            }
        }
    }
}
