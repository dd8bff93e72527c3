#!/bin/sh
# bench/redis/events_collect.sh: what the events collector costs the server (docs/multi-node.md,
# "Events"). Fills one tree's stream with `denied` events as events_retention.sh does (calls
# `tg_record` on a budget with a limit of 0, through redis-benchmark, with no daemon
# running), then starts one daemon on that Redis, whose collector's sweep finds the tree and
# copies its events into the ledger-wide stream "tg:{roots}:events". Prints how long the copy
# took, the server's CPU for it (INFO commandstats' FCALL time, reset just before the daemon
# starts: the collector's calls are then the only function calls), and MEMORY USAGE of the
# ledger-wide stream.
# usage: bench/redis/events_collect.sh [path/to/bench_redis_ledger] [path/to/tollgate] [calls]
set -eu
. "$(dirname "$0")/denied_events.sh"
ledger_bench=${1:-build/bench_redis_ledger}
tollgate=${2:-build/tollgate}
calls=${3:-50000}
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --dir "$work" --save '' --appendonly no \
    --daemonize yes --pidfile "$work/redis.pid" --logfile "$work/redis.log"
daemon=
trap '[ -n "$daemon" ] && kill "$daemon" 2>/dev/null; redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.05; done
TG_REDIS_PORT=$port "$ledger_bench" 100 >/dev/null # leaves the tree `free` (and `acme`)
fill_denied_events "$port" "$calls"
made=$(redis-cli -p "$port" get 'tg:{free}:evseq')
tree=$(redis-cli -p "$port" hget 'tg:{roots}' 'name:free')
printf 'port: 0\nstore: {kind: redis, url: "redis://127.0.0.1:%s", durability: relaxed}\n' \
    "$port" >"$work/c.yaml"
redis-cli -p "$port" config resetstat >/dev/null
started=$(date +%s%N)
TOLLGATE_ADMIN_KEY=k "$tollgate" serve --config "$work/c.yaml" >"$work/daemon.log" 2>&1 &
daemon=$!
until [ "$(redis-cli -p "$port" hget 'tg:{roots}:copied' "$tree")" = "$made" ]; do sleep 0.01; done
took_ms=$((($(date +%s%N) - started) / 1000000))
stats=$(redis-cli -p "$port" info commandstats | tr -d '\r' | grep '^cmdstat_fcall:')
usec=$(echo "$stats" | sed 's/.*,usec=\([0-9]*\),.*/\1/')
fcalls=$(echo "$stats" | sed 's/^cmdstat_fcall:calls=\([0-9]*\),.*/\1/')
bytes=$(redis-cli -p "$port" memory usage 'tg:{roots}:events' samples 0)
entries=$(redis-cli -p "$port" xlen 'tg:{roots}:events')
all=$(redis-cli -p "$port" get 'tg:{roots}:evseq')
echo "events in the tree: $made (all trees: $all); copied by one daemon's collector in $took_ms ms" \
    "(start-up included), $fcalls function calls, $usec us of server CPU" \
    "($((usec * 1000 / made)) ns an event)"
echo "the ledger-wide stream: $entries entries, $bytes bytes ($((bytes / entries)) bytes an event)"
