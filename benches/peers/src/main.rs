//! `peer`: relive's comparison scenarios on the peers — ractor, kameo and
//! actix (none of which can upgrade code) and a raw crossbeam channel, the
//! physical limit for one hand-off between two threads.
//!
//! `peer <system> <scenario>` runs one measured round (after one warm-up
//! round) and prints `<system> <figure>: <value> <unit>`; `benches/run.sh`
//! runs every system in its own process, interleaved, several times, and
//! takes the medians. The scenarios mirror `relive-bench`'s:
//!
//! - `cast`: one producer sends 1 M `Add(1)` one-way to one actor, then one
//!   request waits for all of them (`cast_msgs_per_s`);
//! - `call`: one caller, 200 k sequential request/reply round trips
//!   (`call_round_trips_per_s`);
//! - `spawn`: 100 k counter actors (`spawn_us_per_actor`, and the resident
//!   memory they add, `bytes_per_idle_actor`);
//! - `fanout`: one producer sends 1 M `Add(1)` one-way round-robin to 100
//!   counter actors (10 k each), then one request per actor, all sent
//!   before any answer is awaited; the clock stops when every actor has
//!   answered, and each count is checked to be 10 k (`fanout_msgs_per_s`).
//!   On crossbeam each actor is a thread draining its own channel (bounded
//!   at 1024), and the clock stops when every thread has counted its share
//!   and ended (its channel closed after the last message);
//! - `pingpong`: 1,000 pairs of actors, each pair bouncing one ball 1,000
//!   times (1 M messages), Savina's ping-pong: the driver asks one actor of
//!   each pair to serve (all 1,000 requests sent at once); every actor that
//!   receives the ball with bounces left sends it back to its sender, and the
//!   server answers the request on the rally's last ball; the clock stops
//!   when every server has answered (`pingpong_pairs_msgs_per_s`). Not on
//!   crossbeam: 2,000 threads on 2 cores would measure the OS scheduler.
//!
//! Every actor holds a `u64` counter, as relive's counter module does.
//! Threads: ractor and kameo on a multi-thread tokio runtime with 2 workers
//! (this machine's cores), the producer a task on it beside the actor (from
//! a thread outside the runtime their round trips drop to ~50 k/s: every
//! reply wakes a parked thread). actix runs the actor on its own arbiter
//! thread and the producer on the system thread, so every system hands each
//! message from one thread to another; with both on one arbiter actix makes
//! no hand-off at all (see docs/benchmarks.md for that variant's figures).
//! In fanout and ping-pong actix spreads the actors over two arbiters (its
//! unit of placement; relive and tokio have 2 workers), in fanout actor `i`
//! on arbiter `i % 2` and in ping-pong pair `i` (both its actors) on arbiter
//! `i % 2`, the producer or driver on the system thread. kameo's
//! mailboxes are bounded at 1024, relive's default; ractor's are unbounded
//! (its only kind), and actix's one-way `do_send` ignores its bound.

use relive_benches::{figure, rss_bytes};
use std::time::Instant;

const CASTS: u64 = 1_000_000;
const CALLS: u64 = 200_000;
const SPAWNS: usize = 100_000;
const FANOUT_ACTORS: u64 = 100;
const FANOUT_CASTS: u64 = 1_000_000;
const SHARE: u64 = FANOUT_CASTS / FANOUT_ACTORS;
const PAIRS: u64 = 1_000;
const BOUNCES: u64 = 1_000;

fn rate(n: u64, start: Instant) -> f64 {
    n as f64 / start.elapsed().as_secs_f64()
}

/// The figures of one spawn round: µs per actor and resident bytes each.
fn spawn_figures(system: &str, start: Instant, rss_before: u64) {
    let us = start.elapsed().as_secs_f64() * 1e6 / SPAWNS as f64;
    let bytes = rss_bytes().saturating_sub(rss_before) as f64 / SPAWNS as f64;
    figure(system, "spawn_us_per_actor", us, "us");
    figure(system, "bytes_per_idle_actor", bytes, "B");
}

/// Runs `f` as a task on a fresh multi-thread tokio runtime with 2 workers,
/// so the producer is a task beside the actor, as these frameworks are used.
fn on_tokio<T: Send + 'static>(f: impl Future<Output = T> + Send + 'static) -> T {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(rt.spawn(f)).expect("the benchmark task panicked")
}

mod raw {
    use super::*;
    use crossbeam_channel::{Sender, bounded};

    pub(crate) fn cast() -> f64 {
        let (tx, rx) = bounded::<u64>(1024);
        let consumer = std::thread::spawn(move || rx.iter().sum::<u64>());
        let start = Instant::now();
        for _ in 0..CASTS {
            tx.send(1).unwrap();
        }
        drop(tx);
        assert_eq!(consumer.join().unwrap(), CASTS);
        rate(CASTS, start)
    }

    pub(crate) fn fanout() -> f64 {
        let (senders, consumers): (Vec<_>, Vec<_>) = (0..FANOUT_ACTORS)
            .map(|_| {
                let (tx, rx) = bounded::<u64>(1024);
                (tx, std::thread::spawn(move || rx.iter().sum::<u64>()))
            })
            .unzip();
        let start = Instant::now();
        for i in 0..FANOUT_CASTS {
            senders[(i % FANOUT_ACTORS) as usize].send(1).unwrap();
        }
        drop(senders);
        for c in consumers {
            assert_eq!(c.join().unwrap(), SHARE);
        }
        rate(FANOUT_CASTS, start)
    }

    pub(crate) fn call() -> f64 {
        let (tx, rx) = bounded::<(u64, Sender<u64>)>(1);
        let server = std::thread::spawn(move || {
            let mut count = 0;
            for (n, reply) in rx.iter() {
                count += n;
                reply.send(count).unwrap();
            }
        });
        let (rtx, rrx) = bounded(1);
        let start = Instant::now();
        for _ in 0..CALLS {
            tx.send((1, rtx.clone())).unwrap();
            rrx.recv().unwrap();
        }
        let r = rate(CALLS, start);
        drop(tx);
        server.join().unwrap();
        r
    }
}

mod ractor_peer {
    use super::*;
    use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

    pub(crate) enum Msg {
        Add(u64),
        Get(RpcReplyPort<u64>),
    }

    pub(crate) struct Counter;

    impl Actor for Counter {
        type Msg = Msg;
        type State = u64;
        type Arguments = u64;

        async fn pre_start(&self, _: ActorRef<Msg>, start: u64) -> Result<u64, ActorProcessingErr> {
            Ok(start)
        }

        async fn handle(
            &self,
            _: ActorRef<Msg>,
            msg: Msg,
            count: &mut u64,
        ) -> Result<(), ActorProcessingErr> {
            match msg {
                Msg::Add(n) => *count += n,
                Msg::Get(reply) => {
                    let _ = reply.send(*count);
                }
            }
            Ok(())
        }
    }

    async fn spawn_one() -> ActorRef<Msg> {
        Actor::spawn(None, Counter, 0).await.expect("ractor spawn").0
    }

    async fn get(actor: &ActorRef<Msg>) -> u64 {
        ractor::call!(actor, Msg::Get).expect("ractor call")
    }

    pub(crate) fn cast() -> f64 {
        on_tokio(async {
            let actor = spawn_one().await;
            let start = Instant::now();
            for _ in 0..CASTS {
                actor.cast(Msg::Add(1)).expect("ractor cast");
            }
            assert_eq!(get(&actor).await, CASTS);
            let r = rate(CASTS, start);
            actor.stop(None);
            r
        })
    }

    pub(crate) fn fanout() -> f64 {
        on_tokio(async {
            let mut actors = Vec::new();
            for _ in 0..FANOUT_ACTORS {
                actors.push(spawn_one().await);
            }
            let start = Instant::now();
            for i in 0..FANOUT_CASTS {
                actors[(i % FANOUT_ACTORS) as usize].cast(Msg::Add(1)).expect("ractor cast");
            }
            let pending: Vec<_> = actors
                .iter()
                .map(|a| {
                    let (tx, rx) = ractor::concurrency::oneshot();
                    a.cast(Msg::Get(tx.into())).expect("ractor cast");
                    rx
                })
                .collect();
            for rx in pending {
                assert_eq!(rx.await.expect("ractor reply"), SHARE);
            }
            let r = rate(FANOUT_CASTS, start);
            for a in actors {
                a.stop(None);
            }
            r
        })
    }

    pub(crate) enum Ping {
        Serve { partner: ActorRef<Ping>, bounces: u64, done: RpcReplyPort<u64> },
        Ball { from: ActorRef<Ping>, left: u64 },
    }

    /// A ping-pong player: the balls it received and the request its
    /// rally answers.
    pub(crate) struct Player;

    impl Actor for Player {
        type Msg = Ping;
        type State = (u64, Option<RpcReplyPort<u64>>);
        type Arguments = ();

        async fn pre_start(
            &self,
            _: ActorRef<Ping>,
            (): (),
        ) -> Result<Self::State, ActorProcessingErr> {
            Ok((0, None))
        }

        async fn handle(
            &self,
            me: ActorRef<Ping>,
            msg: Ping,
            (received, serving): &mut Self::State,
        ) -> Result<(), ActorProcessingErr> {
            match msg {
                Ping::Serve { partner, bounces, done } => {
                    *serving = Some(done);
                    partner.cast(Ping::Ball { from: me, left: bounces - 1 })?;
                }
                Ping::Ball { from, left } => {
                    *received += 1;
                    if left > 0 {
                        from.cast(Ping::Ball { from: me, left: left - 1 })?;
                    } else if let Some(done) = serving.take() {
                        done.send(*received)?;
                    }
                }
            }
            Ok(())
        }
    }

    pub(crate) fn pingpong() -> f64 {
        on_tokio(async {
            let mut pairs = Vec::new();
            for _ in 0..PAIRS {
                let server = Actor::spawn(None, Player, ()).await.expect("ractor spawn").0;
                let partner = Actor::spawn(None, Player, ()).await.expect("ractor spawn").0;
                pairs.push((server, partner));
            }
            let start = Instant::now();
            let pending: Vec<_> = pairs
                .iter()
                .map(|(server, partner)| {
                    let (tx, rx) = ractor::concurrency::oneshot();
                    let partner = partner.clone();
                    let serve = Ping::Serve { partner, bounces: BOUNCES, done: tx.into() };
                    server.cast(serve).expect("ractor cast");
                    rx
                })
                .collect();
            for rx in pending {
                assert_eq!(rx.await.expect("ractor reply"), BOUNCES / 2);
            }
            let r = rate(PAIRS * BOUNCES, start);
            for (a, b) in pairs {
                a.stop(None);
                b.stop(None);
            }
            r
        })
    }

    pub(crate) fn call() -> f64 {
        on_tokio(async {
            let actor = spawn_one().await;
            let start = Instant::now();
            for _ in 0..CALLS {
                get(&actor).await;
            }
            let r = rate(CALLS, start);
            actor.stop(None);
            r
        })
    }

    pub(crate) fn spawn() {
        on_tokio(async {
            let before = rss_bytes();
            let start = Instant::now();
            let mut actors = Vec::with_capacity(SPAWNS);
            for _ in 0..SPAWNS {
                actors.push(spawn_one().await);
            }
            spawn_figures("ractor", start, before);
            for a in actors {
                a.stop(None);
            }
        })
    }
}

mod kameo_peer {
    use super::*;
    use kameo::Actor;
    use kameo::actor::{ActorRef, Spawn};
    use kameo::message::{Context, Message};
    use kameo::reply::{DelegatedReply, ReplySender};

    #[derive(Actor)]
    pub(crate) struct Counter(u64);

    pub(crate) struct Add(u64);
    pub(crate) struct Get;

    impl Message<Add> for Counter {
        type Reply = ();
        async fn handle(&mut self, Add(n): Add, _: &mut Context<Self, ()>) {
            self.0 += n;
        }
    }

    impl Message<Get> for Counter {
        type Reply = u64;
        async fn handle(&mut self, _: Get, _: &mut Context<Self, u64>) -> u64 {
            self.0
        }
    }

    fn spawn_one() -> ActorRef<Counter> {
        Counter::spawn_with_mailbox(Counter(0), kameo::mailbox::bounded(1024))
    }

    pub(crate) fn cast() -> f64 {
        on_tokio(async {
            let actor = spawn_one();
            let start = Instant::now();
            for _ in 0..CASTS {
                actor.tell(Add(1)).await.expect("kameo tell");
            }
            assert_eq!(actor.ask(Get).await.expect("kameo ask"), CASTS);
            rate(CASTS, start)
        })
    }

    pub(crate) fn fanout() -> f64 {
        on_tokio(async {
            let actors: Vec<_> = (0..FANOUT_ACTORS).map(|_| spawn_one()).collect();
            let start = Instant::now();
            for i in 0..FANOUT_CASTS {
                actors[(i % FANOUT_ACTORS) as usize].tell(Add(1)).await.expect("kameo tell");
            }
            let mut pending = Vec::with_capacity(actors.len());
            for a in &actors {
                pending.push(a.ask(Get).enqueue().await.expect("kameo ask"));
            }
            for p in pending {
                assert_eq!(p.await.expect("kameo reply"), SHARE);
            }
            rate(FANOUT_CASTS, start)
        })
    }

    /// A ping-pong player: the balls it received and the request its
    /// rally answers.
    #[derive(Actor)]
    pub(crate) struct Player {
        received: u64,
        serving: Option<ReplySender<u64>>,
    }

    pub(crate) struct Serve {
        partner: ActorRef<Player>,
        bounces: u64,
    }

    pub(crate) struct Ball {
        from: ActorRef<Player>,
        left: u64,
    }

    impl Message<Serve> for Player {
        type Reply = DelegatedReply<u64>;
        async fn handle(
            &mut self,
            Serve { partner, bounces }: Serve,
            ctx: &mut Context<Self, DelegatedReply<u64>>,
        ) -> DelegatedReply<u64> {
            let (delegated, sender) = ctx.reply_sender();
            self.serving = sender;
            let me = ctx.actor_ref().clone();
            partner.tell(Ball { from: me, left: bounces - 1 }).await.expect("kameo tell");
            delegated
        }
    }

    impl Message<Ball> for Player {
        type Reply = ();
        async fn handle(&mut self, Ball { from, left }: Ball, ctx: &mut Context<Self, ()>) {
            self.received += 1;
            if left > 0 {
                let me = ctx.actor_ref().clone();
                from.tell(Ball { from: me, left: left - 1 }).await.expect("kameo tell");
            } else if let Some(done) = self.serving.take() {
                done.send(self.received);
            }
        }
    }

    fn player() -> ActorRef<Player> {
        let p = Player { received: 0, serving: None };
        Player::spawn_with_mailbox(p, kameo::mailbox::bounded(1024))
    }

    pub(crate) fn pingpong() -> f64 {
        on_tokio(async {
            let pairs: Vec<_> = (0..PAIRS).map(|_| (player(), player())).collect();
            let start = Instant::now();
            let mut pending = Vec::with_capacity(pairs.len());
            for (server, partner) in &pairs {
                let serve = Serve { partner: partner.clone(), bounces: BOUNCES };
                pending.push(server.ask(serve).enqueue().await.expect("kameo ask"));
            }
            for p in pending {
                assert_eq!(p.await.expect("kameo reply"), BOUNCES / 2);
            }
            rate(PAIRS * BOUNCES, start)
        })
    }

    pub(crate) fn call() -> f64 {
        on_tokio(async {
            let actor = spawn_one();
            let start = Instant::now();
            for _ in 0..CALLS {
                actor.ask(Get).await.expect("kameo ask");
            }
            rate(CALLS, start)
        })
    }

    pub(crate) fn spawn() {
        on_tokio(async {
            let before = rss_bytes();
            let start = Instant::now();
            let actors: Vec<_> = (0..SPAWNS).map(|_| spawn_one()).collect();
            // The last one answering means every one has started.
            actors.last().unwrap().ask(Get).await.expect("kameo ask");
            spawn_figures("kameo", start, before);
        })
    }
}

mod actix_peer {
    use super::*;
    use actix::prelude::*;

    pub(crate) struct Counter(u64);

    impl Actor for Counter {
        type Context = Context<Self>;
    }

    #[derive(Message)]
    #[rtype(result = "()")]
    pub(crate) struct Add(u64);

    #[derive(Message)]
    #[rtype(result = "u64")]
    pub(crate) struct Get;

    impl Handler<Add> for Counter {
        type Result = ();
        fn handle(&mut self, Add(n): Add, _: &mut Context<Self>) {
            self.0 += n;
        }
    }

    impl Handler<Get> for Counter {
        type Result = u64;
        fn handle(&mut self, _: Get, _: &mut Context<Self>) -> u64 {
            self.0
        }
    }

    /// Runs `f` with a counter on its own arbiter thread, from the system
    /// thread.
    fn with_remote_counter(f: impl AsyncFnOnce(Addr<Counter>) -> f64) -> f64 {
        System::new().block_on(async {
            let arbiter = Arbiter::new();
            let addr = Counter::start_in_arbiter(&arbiter.handle(), |_| Counter(0));
            let r = f(addr).await;
            arbiter.stop();
            r
        })
    }

    pub(crate) fn cast() -> f64 {
        with_remote_counter(async |addr| {
            let start = Instant::now();
            for _ in 0..CASTS {
                addr.do_send(Add(1));
            }
            assert_eq!(addr.send(Get).await.expect("actix send"), CASTS);
            rate(CASTS, start)
        })
    }

    pub(crate) fn fanout() -> f64 {
        System::new().block_on(async {
            let arbiters = [Arbiter::new(), Arbiter::new()];
            let actors: Vec<Addr<Counter>> = (0..FANOUT_ACTORS as usize)
                .map(|i| Counter::start_in_arbiter(&arbiters[i % 2].handle(), |_| Counter(0)))
                .collect();
            let start = Instant::now();
            for i in 0..FANOUT_CASTS {
                actors[(i % FANOUT_ACTORS) as usize].do_send(Add(1));
            }
            // `send` queues the request at once; the futures only await it.
            let pending: Vec<_> = actors.iter().map(|a| a.send(Get)).collect();
            for p in pending {
                assert_eq!(p.await.expect("actix send"), SHARE);
            }
            let r = rate(FANOUT_CASTS, start);
            for a in arbiters {
                a.stop();
            }
            r
        })
    }

    /// A ping-pong player: the balls it received and the request its
    /// rally answers.
    pub(crate) struct Player {
        received: u64,
        serving: Option<tokio::sync::oneshot::Sender<u64>>,
    }

    impl Actor for Player {
        type Context = Context<Self>;
    }

    #[derive(Message)]
    #[rtype(result = "()")]
    pub(crate) struct Serve {
        partner: Addr<Player>,
        bounces: u64,
        done: tokio::sync::oneshot::Sender<u64>,
    }

    #[derive(Message)]
    #[rtype(result = "()")]
    pub(crate) struct Ball {
        from: Addr<Player>,
        left: u64,
    }

    impl Handler<Serve> for Player {
        type Result = ();
        fn handle(&mut self, Serve { partner, bounces, done }: Serve, ctx: &mut Context<Self>) {
            self.serving = Some(done);
            partner.do_send(Ball { from: ctx.address(), left: bounces - 1 });
        }
    }

    impl Handler<Ball> for Player {
        type Result = ();
        fn handle(&mut self, Ball { from, left }: Ball, ctx: &mut Context<Self>) {
            self.received += 1;
            if left > 0 {
                from.do_send(Ball { from: ctx.address(), left: left - 1 });
            } else if let Some(done) = self.serving.take() {
                let _ = done.send(self.received);
            }
        }
    }

    pub(crate) fn pingpong() -> f64 {
        System::new().block_on(async {
            let arbiters = [Arbiter::new(), Arbiter::new()];
            let player = |i: usize| {
                Player::start_in_arbiter(&arbiters[i % 2].handle(), |_| Player {
                    received: 0,
                    serving: None,
                })
            };
            let pairs: Vec<_> = (0..PAIRS as usize).map(|i| (player(i), player(i))).collect();
            let start = Instant::now();
            let pending: Vec<_> = pairs
                .iter()
                .map(|(server, partner)| {
                    let (done, rx) = tokio::sync::oneshot::channel();
                    server.do_send(Serve { partner: partner.clone(), bounces: BOUNCES, done });
                    rx
                })
                .collect();
            for rx in pending {
                assert_eq!(rx.await.expect("actix reply"), BOUNCES / 2);
            }
            let r = rate(PAIRS * BOUNCES, start);
            for a in arbiters {
                a.stop();
            }
            r
        })
    }

    pub(crate) fn call() -> f64 {
        with_remote_counter(async |addr| {
            let start = Instant::now();
            for _ in 0..CALLS {
                addr.send(Get).await.expect("actix send");
            }
            rate(CALLS, start)
        })
    }

    pub(crate) fn spawn() {
        System::new().block_on(async {
            let before = rss_bytes();
            let start = Instant::now();
            let actors: Vec<Addr<Counter>> = (0..SPAWNS).map(|_| Counter(0).start()).collect();
            actors.last().unwrap().send(Get).await.expect("actix send");
            spawn_figures("actix", start, before);
        })
    }
}

fn usage() -> ! {
    eprintln!("usage: peer <ractor|kameo|actix|crossbeam> <cast|call|fanout|pingpong|spawn>");
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [system, scenario] = args.as_slice() else { usage() };
    let (system, scenario) = (system.as_str(), scenario.as_str());
    // One warm-up round, one measured round; spawn is measured on its first
    // round (a warm-up would leave 100 k actors' memory behind).
    let twice = |f: &dyn Fn() -> f64| {
        f();
        f()
    };
    let value = match (system, scenario) {
        ("crossbeam", "cast") => twice(&raw::cast),
        ("crossbeam", "call") => twice(&raw::call),
        // Fresh actors each round.
        ("crossbeam", "fanout") => twice(&raw::fanout),
        ("ractor", "fanout") => twice(&ractor_peer::fanout),
        ("kameo", "fanout") => twice(&kameo_peer::fanout),
        ("actix", "fanout") => twice(&actix_peer::fanout),
        ("ractor", "pingpong") => twice(&ractor_peer::pingpong),
        ("kameo", "pingpong") => twice(&kameo_peer::pingpong),
        ("actix", "pingpong") => twice(&actix_peer::pingpong),
        ("ractor", "cast") => twice(&ractor_peer::cast),
        ("ractor", "call") => twice(&ractor_peer::call),
        ("kameo", "cast") => twice(&kameo_peer::cast),
        ("kameo", "call") => twice(&kameo_peer::call),
        ("actix", "cast") => twice(&actix_peer::cast),
        ("actix", "call") => twice(&actix_peer::call),
        ("ractor", "spawn") => return ractor_peer::spawn(),
        ("kameo", "spawn") => return kameo_peer::spawn(),
        ("actix", "spawn") => return actix_peer::spawn(),
        _ => usage(),
    };
    match scenario {
        "cast" => figure(system, "cast_msgs_per_s", value, "msgs/s"),
        "fanout" => figure(system, "fanout_msgs_per_s", value, "msgs/s"),
        "pingpong" => figure(system, "pingpong_pairs_msgs_per_s", value, "msgs/s"),
        _ => figure(system, "call_round_trips_per_s", value, "rt/s"),
    }
}
