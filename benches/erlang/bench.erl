%% Erlang/OTP's side of relive's benchmark comparison: the scenarios of
%% benches/src/bin/relive-bench.rs, one per run of the emulator:
%%
%%   erl -noshell -pa EBIN -run bench main SCENARIO
%%
%% prints `otp <figure>: <value> <unit>` lines and halts. benches/run.sh
%% compiles this directory into target/erlang and runs it when `erl` is
%% present. The emulator runs with its defaults: one scheduler per core.
-module(bench).
-behaviour(supervisor).
-export([main/1, init/1]).

-define(CASTS, 1000000).
-define(CALLS, 200000).
-define(SPAWNS, 100000).
-define(CRASHES, 300).
-define(FANOUT_ACTORS, 100).
-define(FANOUT_CASTS, 1000000).
-define(PAIRS, 1000).
-define(BOUNCES, 1000).

main([Scenario]) ->
    ok = load_counter(v1),
    run(list_to_atom(Scenario)),
    halt(0).

%% One warm-up round, then the measured one (spawn and upgrade: one round).
run(cast) -> cast(), figure(cast_msgs_per_s, cast(), "msgs/s");
run(call) -> call(), figure(call_round_trips_per_s, call(), "rt/s");
run(fanout) -> fanout(), figure(fanout_msgs_per_s, fanout(), "msgs/s");
run(pingpong) -> pingpong(), figure(pingpong_pairs_msgs_per_s, pingpong(), "msgs/s");
run(spawn) -> spawn_actors();
run(upgrade_1k) -> upgrade(1000);
run(upgrade_10k) -> upgrade(10000);
run(upgrade_100k) -> upgrade(100000);
run(restart) -> restart().

figure(Name, Value, Unit) ->
    io:format("otp ~s: ~.2f ~s~n", [Name, float(Value), Unit]).

now_ns() -> erlang:monotonic_time(nanosecond).

per_second(N, T0) -> N / ((now_ns() - T0) / 1.0e9).

%% bench_counter's two versions, compiled from one source.
counter_binary(v1) -> compile_counter([]);
counter_binary(v2) -> compile_counter([{d, 'V2'}]).

compile_counter(Opts) ->
    Src = filename:join(filename:dirname(code:which(?MODULE)), "bench_counter.erl"),
    {ok, bench_counter, Bin} = compile:file(Src, [binary, report | Opts]),
    {Src, Bin}.

load_counter(Version) ->
    {Src, Bin} = counter_binary(Version),
    {module, bench_counter} = code:load_binary(bench_counter, Src, Bin),
    ok.

%% One producer casts ?CASTS {add, 1} to one gen_server, then one call waits
%% for all of them.
cast() ->
    {ok, Pid} = bench_counter:start(0),
    T0 = now_ns(),
    cast_n(Pid, ?CASTS),
    {1, ?CASTS} = gen_server:call(Pid, get, infinity),
    Rate = per_second(?CASTS, T0),
    gen_server:stop(Pid),
    Rate.

cast_n(_Pid, 0) -> ok;
cast_n(Pid, N) -> gen_server:cast(Pid, {add, 1}), cast_n(Pid, N - 1).

%% One producer casts ?FANOUT_CASTS {add, 1} round-robin to ?FANOUT_ACTORS
%% gen_servers, then sends one get request to each (all in flight at once);
%% the clock stops when every one has answered, each count checked.
fanout() ->
    Pids = list_to_tuple([begin {ok, P} = bench_counter:start(0), P end
                          || _ <- lists:seq(1, ?FANOUT_ACTORS)]),
    T0 = now_ns(),
    fanout_n(Pids, 0),
    Reqs = [gen_server:send_request(P, get) || P <- tuple_to_list(Pids)],
    Share = ?FANOUT_CASTS div ?FANOUT_ACTORS,
    [{reply, {1, Share}} = gen_server:wait_response(R, infinity) || R <- Reqs],
    Rate = per_second(?FANOUT_CASTS, T0),
    [gen_server:stop(P) || P <- tuple_to_list(Pids)],
    Rate.

fanout_n(_Pids, ?FANOUT_CASTS) -> ok;
fanout_n(Pids, I) ->
    gen_server:cast(element(I rem ?FANOUT_ACTORS + 1, Pids), {add, 1}),
    fanout_n(Pids, I + 1).

%% ?PAIRS pairs of bench_pingpong players, each pair bouncing one ball
%% ?BOUNCES times: one serve request per pair, all in flight at once; the
%% clock stops when every server has answered (on its rally's last ball).
pingpong() ->
    Start = fun() -> {ok, P} = bench_pingpong:start(), P end,
    Pairs = [{Start(), Start()} || _ <- lists:seq(1, ?PAIRS)],
    T0 = now_ns(),
    Reqs = [gen_server:send_request(S, {serve, P, ?BOUNCES}) || {S, P} <- Pairs],
    Half = ?BOUNCES div 2,
    [{reply, Half} = gen_server:wait_response(R, infinity) || R <- Reqs],
    Rate = per_second(?PAIRS * ?BOUNCES, T0),
    [begin exit(S, kill), exit(P, kill) end || {S, P} <- Pairs],
    Rate.

%% One caller, ?CALLS sequential gen_server:call round trips.
call() ->
    {ok, Pid} = bench_counter:start(0),
    T0 = now_ns(),
    call_n(Pid, ?CALLS),
    Rate = per_second(?CALLS, T0),
    gen_server:stop(Pid),
    Rate.

call_n(_Pid, 0) -> ok;
call_n(Pid, N) -> gen_server:call(Pid, {add, 1}), call_n(Pid, N - 1).

%% ?SPAWNS gen_servers (init included, as relive's spawn runs the module's
%% init): microseconds each and the resident memory each adds.
spawn_actors() ->
    Rss0 = rss_bytes(),
    T0 = now_ns(),
    Pids = [begin {ok, P} = bench_counter:start(0), P end || _ <- lists:seq(1, ?SPAWNS)],
    Us = (now_ns() - T0) / 1000 / ?SPAWNS,
    Bytes = (rss_bytes() - Rss0) / ?SPAWNS,
    figure(spawn_us_per_actor, Us, "us"),
    figure(bytes_per_idle_actor, Bytes, "B"),
    length(Pids).

rss_bytes() ->
    {ok, Statm} = file:read_file("/proc/self/statm"),
    [_Size, Resident | _] = string:lexemes(binary_to_list(Statm), " \n"),
    list_to_integer(Resident) * 4096.

%% OTP's live upgrade of N processes with state, as release_handler performs
%% it for a gen_server: suspend every process, load the new code, call
%% code_change in every process, resume; timed, as relive's is, until every
%% process runs the new version (its last resume). Not timed, on both sides:
%% every process answers from the new version (all requests in flight at once).
upgrade(N) ->
    Pids = [begin {ok, P} = bench_counter:start(I), P end || I <- lists:seq(1, N)],
    {Src, V2} = counter_binary(v2),
    T0 = now_ns(),
    [ok = sys:suspend(P) || P <- Pids],
    {module, bench_counter} = code:load_binary(bench_counter, Src, V2),
    [ok = sys:change_code(P, bench_counter, undefined, []) || P <- Pids],
    [ok = sys:resume(P) || P <- Pids],
    Ms = (now_ns() - T0) / 1.0e6,
    Reqs = [gen_server:send_request(P, get) || P <- Pids],
    [{reply, {2, _}} = gen_server:wait_response(R, infinity) || R <- Reqs],
    figure(io_lib:format("upgrade_atomic_~bk_ms", [N div 1000]), Ms, "ms").

%% A supervised gen_server's handle_call raises; from the crashing call's
%% return to the first successful call on the restarted child, median of
%% ?CRASHES. Logging is off, so no crash report is written.
restart() ->
    ok = logger:set_primary_config(level, none),
    {ok, Sup} = supervisor:start_link(?MODULE, []),
    unlink(Sup),
    Samples = [restart_once() || _ <- lists:seq(1, ?CRASHES)],
    Median = lists:nth(?CRASHES div 2 + 1, lists:sort(Samples)),
    figure(restart_latency_us, Median / 1000, "us").

restart_once() ->
    {'EXIT', _} = (catch gen_server:call(bench_counter_child, crash)),
    T0 = now_ns(),
    wait_answer(),
    now_ns() - T0.

wait_answer() ->
    case catch gen_server:call(bench_counter_child, get) of
        {1, _} -> ok;
        {'EXIT', _} -> wait_answer()
    end.

%% supervisor callback: one permanent counter child, no intensity limit that
%% the benchmark could reach.
init([]) ->
    Flags = #{strategy => one_for_one, intensity => 1000000, period => 1},
    Child = #{id => counter,
              start => {bench_counter, start_link_named, [bench_counter_child]}},
    {ok, {Flags, [Child]}}.
