#!/bin/sh
# bench/redis/daemons.sh: decisions per second and p50/p99 of `tollgate serve` on one SQLite
# file (strict) beside 1, 2 and 4 daemons on one Redis (AOF with appendfsync always, the
# counterpart of strict; and everysec, of relaxed), in one run on this machine, with wrk and
# bench/api.lua (each request one decision: POST /v1/charges, granted and written). With N
# daemons, N wrk processes share the connections and their decisions/s are added; p50 and
# p99 are the worst of the N. Redis's CPU per decision comes from INFO commandstats
# (usec of FCALL) and INFO cpu. Starts its own redis-server on a free loopback port.
# Each configuration runs twice: single requests, then POST /v1/batch of $batch decisions.
# The daemons use the async, pipelined Redis connection; TOLLGATE_REDIS_SYNC=1 in the
# environment measures the synchronous fallback instead.
# usage: bench/redis/daemons.sh [path/to/tollgate] [seconds] [connections] [batch]
set -eu
binary=${1:-build/tollgate}
seconds=${2:-5}
connections=${3:-64}
batch=${4:-10}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
touch "$work/pids"
trap 'for p in $(cat "$work/pids"); do kill $p 2>/dev/null || true; done; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_daemon NAME STORE_YAML: starts a daemon; its url is added to $urls, its pid to $daemons
start_daemon() {
    cat > "$work/$1.yaml" <<YAML
port: 0
store: $2
limits: {connections_max: 4096}
budgets:
  - {path: bench}
  - {path: bench/agent}
YAML
    TOLLGATE_ADMIN_KEY=bench "$binary" serve --config "$work/$1.yaml" > "$work/$1.out" 2>&1 &
    daemons="$daemons $!"
    echo $! >> "$work/pids"
    for _ in $(seq 200); do grep -qs listening "$work/$1.out" && break; sleep 0.05; done
    urls="$urls $(sed -n 's/.*listening on //p' "$work/$1.out")"
}

# load BATCH URL...: wrk on each url with connections/N each, at once; prints the sum and
# worst (BATCH 0: single requests)
load() {
    size=$1
    shift
    n=$#
    per=$((connections / n))
    [ "$per" -lt 1 ] && per=1
    i=0
    loaders=""
    for url in "$@"; do
        i=$((i + 1))
        TG_BATCH=$size TOLLGATE_KEY=bench wrk -t1 -c$per -d${seconds}s --latency \
            -s "$here/api.lua" "$url" > "$work/wrk.$i" 2>&1 &
        loaders="$loaders $!"
    done
    for p in $loaders; do wait "$p" || true; done
    cat "$work"/wrk.* | grep RESULT | awk '{
        for (f = 2; f <= NF; f++) { split($f, kv, "="); v[kv[1]] = kv[2] }
        sum += v["decisions/s"]; err += v["errors"]
        if (v["p50_us"] > p50) p50 = v["p50_us"]; if (v["p99_us"] > p99) p99 = v["p99_us"]
    } END { printf "decisions/s=%d p50_us=%d p99_us=%d errors=%d\n", sum, p50, p99, err }'
    rm -f "$work"/wrk.*
}

redis_stat() { # redis_stat PORT: FCALL calls and usec, CPU seconds (sys+user) of the server
    redis-cli -p "$1" INFO commandstats | tr -d '\r' | sed -n 's/^cmdstat_fcall:calls=\([0-9]*\),usec=\([0-9]*\),.*/\1 \2/p'
    redis-cli -p "$1" INFO cpu | tr -d '\r' | awk -F: '/used_cpu_sys:|used_cpu_user:/ { s += $2 } END { print s }'
}

echo "connections=$connections duration=${seconds}s batch=$batch wrk threads=1 per daemon; redis connection: $([ "${TOLLGATE_REDIS_SYNC:-0}" = 1 ] && echo sync || echo async); machine load: $(cut -d' ' -f1-3 /proc/loadavg)"
urls="" daemons=""
start_daemon sqlite "{kind: sqlite, path: $work/bench.db, durability: strict}"
for size in 0 "$batch"; do
    printf '%-44s ' "sqlite strict, 1 daemon, $([ "$size" = 0 ] && echo single || echo "batch $size")"
    load "$size" $urls
done
kill $daemons

for fsync in always everysec; do
    mode=strict
    [ "$fsync" = everysec ] && mode=relaxed
    port=$(free_port)
    mkdir -p "$work/redis-$fsync"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly yes \
        --appendfsync "$fsync" --dir "$work/redis-$fsync" > "$work/redis-$fsync.log" 2>&1 &
    rpid=$!
    echo $rpid >> "$work/pids"
    for _ in $(seq 200); do redis-cli -p "$port" PING 2>/dev/null | grep -q PONG && break; sleep 0.05; done
    for n in 1 2 4; do
        urls="" daemons=""
        for i in $(seq "$n"); do
            # strict needs appendfsync always on the server; relaxed is everysec's mode
            start_daemon "r$fsync$n$i" "{kind: redis, url: \"redis://127.0.0.1:$port\", timeout_ms: 2000, durability: $mode}"
        done
        for size in 0 "$batch"; do
            redis-cli -p "$port" CONFIG RESETSTAT > /dev/null
            cpu_before=$(redis_stat "$port" | tail -1)
            printf '%-44s ' "redis appendfsync $fsync, $n daemon(s), $([ "$size" = 0 ] && echo single || echo "batch $size")"
            result=$(load "$size" $urls)
            stats=$(redis_stat "$port")
            calls=$(echo "$stats" | head -1 | cut -d' ' -f1)
            usec=$(echo "$stats" | head -1 | cut -d' ' -f2)
            cpu_after=$(echo "$stats" | tail -1)
            echo "$result fcall_usec_per_call=$(awk -v u="$usec" -v c="$calls" 'BEGIN { printf "%.1f", c ? u / c : 0 }') redis_cpu_us_per_call=$(awk -v a="$cpu_after" -v b="$cpu_before" -v c="$calls" 'BEGIN { printf "%.1f", c ? (a - b) * 1e6 / c : 0 }')"
        done
        kill $daemons
    done
    kill "$rpid"
done
