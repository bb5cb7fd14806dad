%% A ping-pong player for relive's `pingpong` benchmark scenario (Savina's
%% ping-pong), as a gen_server, like relive's `pingpong` module: a call
%% {serve, Partner, Bounces} keeps the caller and casts the ball to Partner;
%% each player that receives the ball with bounces left casts it back to its
%% sender, one bounce fewer; the player that receives it with none left
%% (the server, as Bounces is even) answers the kept call with the number of
%% balls it received.
-module(bench_pingpong).
-behaviour(gen_server).
-export([start/0, init/1, handle_call/3, handle_cast/2]).

start() -> gen_server:start(?MODULE, [], []).

%% The state: {BallsReceived, TheKeptCall | undefined}.
init([]) -> {ok, {0, undefined}}.

handle_call({serve, Partner, Bounces}, From, {Received, undefined})
  when Bounces > 0, Bounces rem 2 =:= 0 ->
    gen_server:cast(Partner, {ball, self(), Bounces - 1}),
    {noreply, {Received, From}}.

handle_cast({ball, _From, 0}, {Received, Serving}) ->
    gen_server:reply(Serving, Received + 1),
    {noreply, {Received + 1, undefined}};
handle_cast({ball, From, Left}, {Received, Serving}) ->
    gen_server:cast(From, {ball, self(), Left - 1}),
    {noreply, {Received + 1, Serving}}.
