# bench/redis/denied_events.sh: sourced by events_retention.sh and events_collect.sh.
# fill_denied_events PORT CALLS: on the Redis at PORT, after `bench_redis_ledger 100` left
# the tree `free`, makes a budget `free/zero` with a limit of 0 and sends it CALLS
# `tg_record` charges (cost 1000, class normal, tool "search"), each refused with a
# `denied` event, the most frequent kind, through redis-benchmark.
fill_denied_events() {
    now=$(($(date +%s) * 1000))
    # tg_budget_put(P, meta) now path tree spec limit calls tokens window thr c0..c3 cap, the
    # 8 window bounds (a lifetime window reads none), then no alerts.
    redis-cli -p "$1" FCALL tg_budget_put 2 'tg:{free}:' 'tg:{free}:meta' "$now" free/zero 1 \
        '0 -1 -1 0 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 0 0 zUTC' 0 -1 -1 0 0 0 0 0 0 0 \
        0 0 0 0 0 0 0 0 0 >/dev/null
    redis-benchmark -p "$1" -c 16 -P 16 -n "$2" -q FCALL tg_record 2 'tg:{free}:' \
        'tg:{free}:meta' "$now" free/zero 1000 0 0 1 search '' 0 '' '' 86400000 \
        0 0 0 0 0 0 0 0 >/dev/null
}
