#!/bin/sh
# bench/redis/events_retention.sh: what a tree's event stream costs the server when full.
# Each tree keeps about its newest 100,000 events in "tg:{ROOT}:events" (tollgate.lua,
# EVENTS_KEEP_TEXT; docs/multi-node.md, "Events"). This makes a budget with a limit of 0
# beside bench_redis_ledger's `free/agent` and sends it `tg_record` charges, each refused
# with a `denied` event (the most frequent kind), past the retention, then prints the
# stream's length and MEMORY USAGE over its entries.
# usage: bench/redis/events_retention.sh [path/to/bench_redis_ledger] [calls]
set -eu
. "$(dirname "$0")/denied_events.sh"
ledger_bench=${1:-build/bench_redis_ledger}
calls=${2:-150000}
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --dir "$work" --save '' --appendonly no \
    --daemonize yes --pidfile "$work/redis.pid" --logfile "$work/redis.log"
trap 'redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.05; done
TG_REDIS_PORT=$port "$ledger_bench" 100 >/dev/null # leaves the tree `free` (number 1)
fill_denied_events "$port" "$calls"
entries=$(redis-cli -p "$port" xlen 'tg:{free}:events')
last=$(redis-cli -p "$port" get 'tg:{free}:evseq')
bytes=$(redis-cli -p "$port" memory usage 'tg:{free}:events' samples 0)
echo "events made: $last; kept in the tree's stream: $entries, $bytes bytes" \
    "($((bytes / entries)) bytes an event)"
redis-cli -p "$port" xrevrange 'tg:{free}:events' + - count 1
