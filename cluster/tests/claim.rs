//! Hosts joining with one node name at the same instant: exactly one
//! succeeds, the others get `JoinError::NodeTaken` (issue 18, decision
//! 0030). Before the claim, each probed the name before it listened on it,
//! so every one of them missed the others and joined.

use relive_cluster::{ClusterBuilder, JoinError};
use relive_runtime::Host;
use relive_test_support::nats::{NatsServer, nats_server_or_skip};
use std::sync::Arc;

const JOINERS: usize = 4;
const ROUNDS: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_joins_with_one_node_name_let_exactly_one_in() {
    let Some(bin) = nats_server_or_skip("concurrent_joins_with_one_node_name") else {
        return;
    };
    let nats = NatsServer::start(&bin);
    let hosts: Vec<Host> =
        (0..JOINERS).map(|_| Host::builder().workers(1).build().unwrap()).collect();
    let mut kept = Vec::new();
    for round in 0..ROUNDS {
        let node = format!("twin-{round}");
        // Every joiner waits at the barrier, then joins at once.
        let barrier = Arc::new(tokio::sync::Barrier::new(JOINERS));
        let joins: Vec<_> = hosts
            .iter()
            .map(|h| {
                let (url, node, handle, barrier) =
                    (nats.url(), node.clone(), h.handle(), Arc::clone(&barrier));
                tokio::spawn(async move {
                    barrier.wait().await;
                    ClusterBuilder::new(url, "claim", node).join(&handle).await
                })
            })
            .collect();
        let mut won = Vec::new();
        for j in joins {
            match j.await.unwrap() {
                Ok(member) => won.push(member),
                Err(JoinError::NodeTaken { cluster, node: taken }) => {
                    assert_eq!((cluster.as_str(), taken.as_str()), ("claim", node.as_str()));
                }
                Err(e) => panic!("round {round}: {e:?}"),
            }
        }
        assert_eq!(won.len(), 1, "round {round}: exactly one of {JOINERS} joins as {node}");
        // A later join with the name is refused by the member that won.
        let e = ClusterBuilder::new(nats.url(), "claim", node.as_str())
            .join(&hosts[0].handle())
            .await
            .unwrap_err();
        assert!(matches!(e, JoinError::NodeTaken { .. }), "{e:?}");
        kept.extend(won);
    }
    for m in kept {
        m.leave().await;
    }
}
