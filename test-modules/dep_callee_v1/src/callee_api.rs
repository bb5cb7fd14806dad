// The interface of `dep_callee` (both versions), which `dep_caller` sends:
// included by all four fixtures (a fingerprint covers names and shapes, not
// the crate a type is in).

/// What `dep_callee` handles.
#[derive(Debug, serde::Serialize, serde::Deserialize, postcard_schema::Schema)]
pub enum CalleeMsg {
    /// Answer `n` plus 1000 times the callee's major version.
    Ping(u32),
}
