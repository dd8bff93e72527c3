#!/bin/sh
# bench/api.sh: decisions per second and p50/p99 of the daemon's JSON API with wrk,
# at 1, 16, 64 and 256 connections, single requests and /v1/batch of 100; and the daemon's
# own CPU time per decision (from /proc, user + system), which a busy machine moves far
# less than it moves decisions per second: the figure to compare two binaries by.
# usage: bench/api.sh [path/to/tollgate] [store: memory|sqlite] [seconds]
set -eu
binary=${1:-build/tollgate}
store=${2:-sqlite}
seconds=${3:-5}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
cat > "$work/bench.yaml" <<YAML
port: 0
store: {kind: $store, path: $work/bench.db, durability: strict}
limits: {connections_max: 4096}
budgets:
  - {path: bench}
  - {path: bench/agent}
YAML
TOLLGATE_ADMIN_KEY=bench "$binary" serve --config "$work/bench.yaml" > "$work/out" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do grep -qs listening "$work/out" && break; sleep 0.05; done
url=$(sed -n 's/.*listening on //p' "$work/out")
echo "store=$store threads=2 duration=${seconds}s url=$url"
ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
for batch in 0 100; do
    for connections in 1 16 64 256; do
        threads=2
        [ "$connections" -lt 2 ] && threads=1
        printf 'batch=%-3s connections=%-3s ' "$batch" "$connections"
        before=$(cpu_ticks)
        result=$(TG_BATCH=$batch TOLLGATE_KEY=bench wrk -t$threads -c$connections -d${seconds}s \
            --latency -s "$here/api.lua" "$url" | grep RESULT)
        after=$(cpu_ticks)
        echo "$result" | awk -v used=$((after - before)) -v ticks="$ticks" '{
            n = $0; sub(/.*decisions=/, "", n); sub(/ .*/, "", n)
            printf "%s daemon_cpu_us_per_decision=%.2f\n", $0, (n > 0 ? used * 1e6 / ticks / n : 0) }'
    done
done
