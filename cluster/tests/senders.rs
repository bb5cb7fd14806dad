//! The serving host's table of cast senders is bounded (decision 0036):
//! with room for 4 senders, 12 senders casting to one actor leave it at 4,
//! and a sender it forgot that casts again — past an acknowledgement, so
//! through its credit window too — has every cast delivered, in its order,
//! with nothing counted missing or out of order.

use relive_cluster::ClusterBuilder;
use relive_runtime::{Host, NativeActor, NativeContext, SpawnOptions};
use relive_test_support::nats::{NatsServer, nats_server_or_skip};
use std::time::Duration;

/// `(sender, n)`: a cast to record; [`READ`] as the sender: a call for the
/// record.
type Msg = (u32, u64);
const READ: u32 = u32::MAX;

/// Records every cast it handles, in the order handled.
struct Recorder(Vec<(u32, u64)>);

impl NativeActor for Recorder {
    type Msg = Msg;
    type Reply = Vec<(u32, u64)>;

    fn handle(&mut self, msg: Msg, _ctx: &mut NativeContext<'_>) -> Self::Reply {
        if msg.0 == READ {
            return self.0.clone();
        }
        self.0.push(msg);
        Vec::new()
    }
}

const REMEMBERED: usize = 4;
const SENDERS: u32 = 12;
const FIRST: u64 = 3;
/// Past [`relive_cluster::CAST_ACK_EVERY`] (128): acknowledged on the way.
const AGAIN: u64 = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_sender_casting_again_loses_nothing_and_keeps_its_order() {
    let Some(bin) = nats_server_or_skip("a_forgotten_sender_casting_again") else {
        return;
    };
    let nats = NatsServer::start(&bin);
    let host_a = Host::builder().workers(2).build().unwrap();
    let host_b = Host::builder().workers(2).build().unwrap();
    host_a.spawn_native(Recorder(Vec::new()), SpawnOptions::new().name("rec")).unwrap();
    let a = ClusterBuilder::new(nats.url(), "senders", "a")
        .remembered_senders(REMEMBERED)
        .call_timeout(Duration::from_secs(10))
        .join(&host_a.handle())
        .await
        .unwrap();
    let b = ClusterBuilder::new(nats.url(), "senders", "b")
        .call_timeout(Duration::from_secs(10))
        .join(&host_b.handle())
        .await
        .unwrap();
    a.register("rec").await.unwrap();

    // Each reference is a sender of its own; pinned, so every gap counts.
    let mut senders = Vec::new();
    for _ in 0..SENDERS {
        senders.push(b.remote_on::<Msg, Vec<(u32, u64)>>("a", "rec").await.unwrap());
    }
    for (i, s) in senders.iter().enumerate() {
        for n in 0..FIRST {
            s.cast_async((i as u32, n)).await.unwrap();
        }
    }
    // Sender 0 was forgotten by a long ago (the 5th sender pushed it out).
    for n in FIRST..FIRST + AGAIN {
        senders[0].cast_async((0, n)).await.unwrap();
    }
    // A call from sender 0's reference comes after its casts.
    let record = senders[0].call_async((READ, 0)).await.unwrap();

    let expected = SENDERS as usize * FIRST as usize + AGAIN as usize;
    assert_eq!(record.len(), expected, "every cast delivered once");
    for i in 0..SENDERS {
        let theirs: Vec<u64> = record.iter().filter(|(s, _)| *s == i).map(|(_, n)| *n).collect();
        let sent = if i == 0 { FIRST + AGAIN } else { FIRST };
        assert_eq!(theirs, (0..sent).collect::<Vec<_>>(), "sender {i}: all, in its order");
    }
    let stats = a.stats();
    assert_eq!((stats.casts_missing, stats.casts_out_of_order), (0, 0), "{stats:?}");
    assert_eq!(stats.casts_delivered, expected as u64, "{stats:?}");
    // 12 senders and sender 0 once more through a table of 4: 13 first
    // contacts, 4 remembered, 9 forgotten.
    assert_eq!(stats.senders_forgotten, 9, "{stats:?}");
    b.leave().await;
    a.leave().await;
}
