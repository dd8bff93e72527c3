#!/usr/bin/env python3
"""Reads logs of bench/fsync_log/fsync_log.c (one daemon run each) and prints, per log,
one markdown row: how the strict commits' WAL fsyncs fared beside the checkpointer's
fsyncs of the main file (docs/benchmarks.md, run N).

The engine's thread is the one with the most WAL fdatasyncs; a main-file fdatasync on
it is a catch-up inside a commit, on any other thread the checkpointer's.

    python3 bench/fsync_log/overlap.py /tmp/io-1M.log /tmp/io-10.log
"""
import collections
import sys

SLOW_NS = 2_000_000  # a WAL fsync past this is in the p99 band of a quiet 10-budget run


def quantile(values, q):
    return values[min(len(values) - 1, int(q * len(values)))] / 1e6 if values else float("nan")


def row(path):
    events = []
    with open(path) as f:
        for line in f:
            event, kind, start, took, tid = line.split()[:5]
            events.append((event, kind, int(start), int(took), int(tid)))
    wal_syncs = collections.Counter(t for e, k, _, _, t in events if e == "S" and k == "w")
    if not wal_syncs:
        return f"| {path} | no WAL fsyncs |"
    engine = wal_syncs.most_common(1)[0][0]
    # The checkpointer's main-file fsyncs, as [start, end) intervals.
    ckpt = sorted((s, s + d) for e, k, s, d, t in events if e == "S" and k == "d" and t != engine)
    inline = sum(1 for e, k, _, _, t in events if e == "S" and k == "d" and t == engine)
    commits = sorted((s, d) for e, k, s, d, t in events if e == "S" and k == "w" and t == engine)
    met, rest = [], []
    i = 0
    for start, took in commits:  # both sorted by start: one pass
        while i < len(ckpt) and ckpt[i][1] <= start:
            i += 1
        overlaps = any(s < start + took for s, _ in ckpt[i : i + 3])
        (met if overlaps else rest).append(took)
    met.sort()
    rest.sort()
    spans = sorted(e - s for s, e in ckpt)
    slow = sum(1 for d in met if d > SLOW_NS)
    return (
        f"| {path} | {len(commits):,} | {len(ckpt)}, {quantile(spans, 0.5):.2f} ms "
        f"| {len(met)}, {quantile(met, 0.5):.2f} ms | {slow} ({100 * slow / len(commits):.2f}%) "
        f"| {quantile(rest, 0.5):.2f}, {quantile(rest, 0.99):.2f} ms "
        f"| {inline} ({100 * inline / len(commits):.1f}%) |"
    )


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: overlap.py LOG...")
    print("| log | strict commits (WAL fsyncs) | checkpointer's main-file fsyncs: count, median "
          "| WAL fsyncs overlapping one: count, median | of them past 2 ms (share of commits) "
          "| the other WAL fsyncs: median, p99 | catch-ups inside commits (share) |")
    print("|---|---|---|---|---|---|---|")
    for path in sys.argv[1:]:
        print(row(path))


if __name__ == "__main__":
    main()
