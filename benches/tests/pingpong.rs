//! The `pingpong` module the ping-pong scenario runs (test-modules/pingpong),
//! loaded as its release-built cdylib on a real host: a rally ends at its
//! server with every other ball, many rallies at once all end, and the ways
//! a rally cannot end answer the serve with the reason instead of hanging.

use pingpong::PingPongMsg;
use relive_runtime::{ActorRef, Host};

type Player = ActorRef<PingPongMsg, Result<u64, String>>;

fn host() -> Host {
    let lib = relive_test_support::build_library("pingpong", true);
    let host = Host::new().expect("host");
    host.code_server().upgrade("pingpong", &lib).expect("load pingpong");
    host
}

fn player(host: &Host) -> Player {
    host.spawn("pingpong", &()).expect("spawn a player")
}

fn serve(partner: &Player, bounces: u64) -> PingPongMsg {
    PingPongMsg::Serve { partner: partner.id().get(), bounces }
}

#[test]
fn a_rally_ends_at_its_server_with_every_other_ball() {
    let host = host();
    let (server, partner) = (player(&host), player(&host));
    assert_eq!(server.call(serve(&partner, 10)).unwrap(), Ok(5));
    // The count is the server's own, rally after rally.
    assert_eq!(server.call(serve(&partner, 4)).unwrap(), Ok(7));
}

#[test]
fn many_rallies_at_once_all_end() {
    let host = host();
    let pairs: Vec<(Player, Player)> = (0..50).map(|_| (player(&host), player(&host))).collect();
    let serves = pairs.iter().map(|(s, p)| s.call_async(serve(p, 100))).collect();
    for reply in relive_benches::block_on_all(serves) {
        assert_eq!(reply.unwrap(), Ok(50));
    }
}

#[test]
fn an_odd_rally_is_refused() {
    let host = host();
    let (server, partner) = (player(&host), player(&host));
    let refused = server.call(serve(&partner, 3)).unwrap().unwrap_err();
    assert!(refused.contains("3 bounces"), "{refused}");
    assert!(server.call(serve(&partner, 0)).unwrap().is_err());
}

#[test]
fn a_serve_to_no_actor_answers_why() {
    let host = host();
    let server = player(&host);
    let nobody = PingPongMsg::Serve { partner: u64::MAX, bounces: 2 };
    assert!(server.call(nobody).unwrap().is_err());
}
