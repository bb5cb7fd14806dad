//! Waiting until the NATS server has what this client sent: a message to
//! a fresh inbox of its own coming back (decision 0030).

use crate::bound::{Bound, WaitError};
use futures_util::StreamExt;

/// Wait (up to `bound`) until the server has processed everything this
/// client sent so far. `Client::flush` only waits for the socket, so a
/// subscription just made may not be on the server yet — another client's
/// request then gets "no responders". The server handles one connection's
/// messages in order, so a message to a fresh inbox of our own coming back
/// means the subscriptions (and publishes) before it are in place.
///
/// # Errors
/// [`WaitError::Elapsed`] when the echo did not come back within `bound`
/// (a server that does not answer, a connection lost meanwhile);
/// [`WaitError::Nats`] when async-nats refused the subscription or the
/// publish, or the connection closed.
pub(crate) async fn synced(client: &async_nats::Client, bound: Bound) -> Result<(), WaitError> {
    let inbox = client.new_inbox();
    let mut echo = bound.exchange(client.subscribe(inbox.clone())).await?;
    bound.exchange(client.publish(inbox, "".into())).await?;
    match bound.run(echo.next()).await? {
        // `echo` drops here: unsubscribed without waiting.
        Some(_) => Ok(()),
        None => Err(WaitError::Nats("the connection closed".into())),
    }
}
