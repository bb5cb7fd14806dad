//! Claiming a node name at join, so that two hosts joining with one name
//! at the same instant do not both succeed (decision 0030).
//!
//! A joining host first subscribes to its name's ping subject
//! (`relive.<cluster>.node.<node>.ping`), then publishes a probe there
//! carrying a fresh join id and collects every answer for the claim window.
//! Whoever listens on that subject answers: a member that joined says
//! `joined`; a host still joining says `joining <its id>`, and — when the
//! prober's id is lower than its own — gives the name up itself. A prober
//! that hears `joined`, or `joining` with a lower id, gives up too. As each
//! host subscribes before it probes, of two joiners the later prober's
//! probe reaches the earlier one: both see each other and apply the same
//! tie-break, or the earlier one has joined and says so. So exactly one of
//! any number of concurrent joiners wins, as long as a probe and its
//! answer cross within the window.

use crate::bound::{Bound, WaitError};
use futures_util::StreamExt;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;

/// How long a joining host collects answers to its probe (the default of
/// [`ClusterBuilder::claim_window`](crate::ClusterBuilder::claim_window)).
pub const DEFAULT_CLAIM_WINDOW: Duration = Duration::from_millis(250);

const JOINED: &str = "joined";
const JOINING: &str = "joining ";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Joining,
    Joined,
    Lost,
}

/// This host's claim on its node name, shared with the task that answers
/// pings.
#[derive(Debug)]
pub(crate) struct Claim {
    id: String,
    phase: Mutex<Phase>,
}

impl Claim {
    pub(crate) fn new(client: &async_nats::Client) -> Arc<Self> {
        Arc::new(Claim { id: client.new_inbox(), phase: Mutex::new(Phase::Joining) })
    }

    /// The answer to a ping whose payload is `probe` (a prober's join id;
    /// empty from anyone else), `None` for this host's own probe.
    pub(crate) fn answer(&self, probe: &[u8]) -> Option<String> {
        let probe = std::str::from_utf8(probe).unwrap_or("");
        if probe == self.id {
            return None;
        }
        let mut phase = self.phase.lock();
        match *phase {
            Phase::Joined => Some(JOINED.to_owned()),
            Phase::Joining | Phase::Lost => {
                if !probe.is_empty() && *probe < *self.id {
                    *phase = Phase::Lost;
                }
                Some(format!("{JOINING}{}", self.id))
            }
        }
    }

    /// Probe for `window` on `ping` (already subscribed and answered by
    /// [`answer`](Self::answer)): whether this host holds the name now.
    /// Each round trip with the server is bounded by `call` within
    /// `bound` (the join's deadline); the window starts once the server has
    /// the probe (it echoed a message sent after it), so a server that
    /// takes the probe late, or never, cannot make a claim out of silence.
    ///
    /// # Errors
    /// [`WaitError::Nats`] when the probe cannot be sent;
    /// [`WaitError::Elapsed`] when the server did not take it within the
    /// bound, or the join's deadline passed within the window.
    pub(crate) async fn probe(
        &self,
        client: &async_nats::Client,
        ping: &str,
        window: Duration,
        bound: Bound,
        call: Duration,
    ) -> Result<bool, WaitError> {
        let inbox = client.new_inbox();
        let mut answers = bound.within(call).exchange(client.subscribe(inbox.clone())).await?;
        let probe = client.publish_with_reply(ping.to_owned(), inbox, self.id.clone().into());
        bound.within(call).exchange(probe).await?;
        crate::synced::synced(client, bound.within(call)).await?;
        let mut taken = false;
        // The join's deadline may fall within the window: then the window
        // is cut short, and that is no claim.
        let cut_short = bound.is_sooner_than(window);
        let collect = bound.within(window);
        while let Ok(Some(a)) = collect.run(answers.next()).await {
            if a.status.is_some() {
                continue; // a status (no responders: only this host listens yet)
            }
            let text = String::from_utf8_lossy(&a.payload);
            taken |= match text.strip_prefix(JOINING) {
                Some(other) => *other < *self.id,
                None => true, // joined (or a member of another wire version)
            };
        }
        drop(answers); // unsubscribed without waiting
        if cut_short {
            return Err(WaitError::Elapsed(bound.timeout()));
        }
        let mut phase = self.phase.lock();
        if taken || *phase == Phase::Lost {
            *phase = Phase::Lost;
            return Ok(false);
        }
        *phase = Phase::Joined;
        Ok(true)
    }
}
