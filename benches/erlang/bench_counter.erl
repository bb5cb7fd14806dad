%% The counter every system in relive's benchmarks runs, as a gen_server.
%% Compiled twice by bench.erl: without V2 it is version 1 (the state is the
%% count), with {d,'V2'} version 2 (the state is {v2, Count}, migrated by
%% code_change/3), like relive's counter_v1 and counter_v2 modules.
-module(bench_counter).
-behaviour(gen_server).
-export([start/1, start_link_named/1, init/1, handle_call/3, handle_cast/2,
         handle_info/2, code_change/3]).

start(N) -> gen_server:start(?MODULE, N, []).

start_link_named(Name) -> gen_server:start_link({local, Name}, ?MODULE, 0, []).

init(N) -> {ok, N}.

-ifndef(V2).
handle_call(get, _From, N) -> {reply, {1, N}, N};
handle_call({add, K}, _From, N) -> {reply, N + K, N + K};
handle_call(crash, _From, _N) -> error(bench_crash).

handle_cast({add, K}, N) -> {noreply, N + K}.

code_change(_OldVsn, State, _Extra) -> {ok, State}.
-else.
handle_call(get, _From, {v2, N} = S) -> {reply, {2, N}, S};
handle_call({add, K}, _From, {v2, N}) -> {reply, N + K, {v2, N + K}};
handle_call(crash, _From, _S) -> error(bench_crash).

handle_cast({add, K}, {v2, N}) -> {noreply, {v2, N + K}}.

code_change(_OldVsn, N, _Extra) when is_integer(N) -> {ok, {v2, N}}.
-endif.

handle_info(_Msg, State) -> {noreply, State}.
