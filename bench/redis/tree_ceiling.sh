#!/bin/sh
# bench/redis/tree_ceiling.sh: the decisions per second one budget tree can reach on the
# Redis ledger. A tree lives in one hash slot, so one Redis core runs every decision of it
# in turn (docs/multi-node.md, "What a tree can do"): this drives `tg_record` (a charge
# without a hold, the daemon bench's decision) on one 2-level tree straight into a
# redis-server of its own, with redis-benchmark (16 connections, 16 calls pipelined on
# each, so the server never waits for a client), three runs each with `appendfsync
# always` (strict) and without an AOF. No daemon is in the way: this is the server's side
# of the ceiling; daemons add their own CPU (bench/redis/daemons.sh).
# usage: bench/redis/tree_ceiling.sh [path/to/bench_redis_ledger] [calls per run]
set -eu
ledger_bench=${1:-build/bench_redis_ledger}
calls=${2:-200000}
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --dir "$work" --save '' --appendonly no \
    --daemonize yes --pidfile "$work/redis.pid" --logfile "$work/redis.log"
trap 'redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.05; done
# The tree: bench_redis_ledger leaves `free/agent` (no limits, lifetime window) behind.
TG_REDIS_PORT=$port "$ledger_bench" 100 >/dev/null
# tg_record(P, meta) now path cost tokens_in tokens_out class tool model force key args
# idempotency_ttl and the 8 window bounds (unused by a lifetime window).
now=$(($(date +%s) * 1000))
run() {
    redis-benchmark -p "$port" -c 16 -P 16 -n "$calls" --csv FCALL tg_record 2 'tg:{free}:' \
        'tg:{free}:meta' "$now" free/agent 1000 0 0 1 '' '' 0 '' '' 86400000 \
        0 0 0 0 0 0 0 0 | tail -1 | cut -d, -f2 | tr -d '"'
}
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
redis-cli -p "$port" config set appendonly yes >/dev/null
redis-cli -p "$port" config set appendfsync always >/dev/null
for i in 1 2 3; do echo "appendfsync always, run $i: $(run) decisions/s"; done
redis-cli -p "$port" config set appendonly no >/dev/null
for i in 1 2 3; do echo "no AOF, run $i: $(run) decisions/s"; done
# What the kept charges cost the server: the stream's memory (MEMORY USAGE ... SAMPLES 0
# counts every node) over its entries, for docs/multi-node.md's retention figure.
entries=$(redis-cli -p "$port" xlen 'tg:{free}:spend')
bytes=$(redis-cli -p "$port" memory usage 'tg:{free}:spend' samples 0)
echo "charges in the tree's stream: $entries, $bytes bytes ($((bytes / entries)) bytes a charge)"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
