//! The NATS subjects a cluster uses, all under `relive.<cluster>.`, and the
//! names that may appear in them.
//!
//! | subject | who listens | what travels |
//! |---|---|---|
//! | `relive.<cluster>.actor.<name>` | every host serving `<name>`, in the queue group [`POOL_QUEUE`] (one of them gets each message) | calls, casts, checks, monitor set-ups to whichever member |
//! | `relive.<cluster>.node.<node>.actor.<name>` | the host `<node>` serving `<name>` | the same, to that one host |
//! | `relive.<cluster>.node.<node>.ping` | the host `<node>` | a probe: is the node name taken (at join) |
//! | `relive.<cluster>.heartbeat.<node>` | every member | `<node>`'s heartbeat; a goodbye header when it leaves |
//! | `relive.<cluster>.down.<node>.<name>` | every member | the exit of the actor `<node>` serves as `<name>`: its reason |

use crate::error::InvalidName;

/// The queue group every host serving a name joins on its pool subject.
/// Queue groups are per subject, so one group name serves every name.
pub const POOL_QUEUE: &str = "relive-pool";

/// Check that `name` can be one subject token: 1 to 128 characters out of
/// `A-Z a-z 0-9 _ -` (no `.`, `*`, `>` or white space, which NATS gives a
/// meaning).
///
/// # Errors
/// [`InvalidName`], saying which name (`what`) and why.
pub fn check_token(what: &'static str, name: &str) -> Result<(), InvalidName> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if name.is_empty() || name.len() > 128 || !name.chars().all(ok_char) {
        return Err(InvalidName { what, name: name.to_owned() });
    }
    Ok(())
}

/// The subjects of one cluster.
#[derive(Debug, Clone)]
pub(crate) struct Subjects {
    prefix: String,
}

impl Subjects {
    pub(crate) fn new(cluster: &str) -> Self {
        Subjects { prefix: format!("relive.{cluster}") }
    }

    /// Any host serving `name`.
    pub(crate) fn pool(&self, name: &str) -> String {
        format!("{}.actor.{name}", self.prefix)
    }

    /// The host `node` serving `name`.
    pub(crate) fn node(&self, node: &str, name: &str) -> String {
        format!("{}.node.{node}.actor.{name}", self.prefix)
    }

    pub(crate) fn ping(&self, node: &str) -> String {
        format!("{}.node.{node}.ping", self.prefix)
    }

    pub(crate) fn heartbeat(&self, node: &str) -> String {
        format!("{}.heartbeat.{node}", self.prefix)
    }

    pub(crate) fn heartbeats(&self) -> String {
        format!("{}.heartbeat.*", self.prefix)
    }

    pub(crate) fn down(&self, node: &str, name: &str) -> String {
        format!("{}.down.{node}.{name}", self.prefix)
    }

    pub(crate) fn downs(&self) -> String {
        format!("{}.down.*.*", self.prefix)
    }

    /// The `<node>` of a heartbeat subject.
    pub(crate) fn heartbeat_node<'a>(&self, subject: &'a str) -> Option<&'a str> {
        subject.strip_prefix(&self.prefix)?.strip_prefix(".heartbeat.")
    }

    /// The `(<node>, <name>)` of a down subject.
    pub(crate) fn down_of<'a>(&self, subject: &'a str) -> Option<(&'a str, &'a str)> {
        subject.strip_prefix(&self.prefix)?.strip_prefix(".down.")?.split_once('.')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_and_subjects_parse_back() {
        assert!(check_token("node", "host-1_a").is_ok());
        for bad in ["", "a.b", "a*", ">", "a b"] {
            assert!(check_token("node", bad).is_err(), "{bad:?}");
        }
        let s = Subjects::new("prod");
        assert_eq!(s.pool("counter"), "relive.prod.actor.counter");
        assert_eq!(s.node("h1", "counter"), "relive.prod.node.h1.actor.counter");
        assert_eq!(s.heartbeat_node(&s.heartbeat("h1")), Some("h1"));
        assert_eq!(s.down_of(&s.down("h1", "counter")), Some(("h1", "counter")));
        assert_eq!(Subjects::new("other").heartbeat_node(&s.heartbeat("h1")), None);
    }
}
