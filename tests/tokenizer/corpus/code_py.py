#!/usr/bin/env python3
"""Summarise spend per budget from a JSON-lines event log."""
from __future__ import annotations

import argparse
import collections
import json
import sys
from dataclasses import dataclass, field
from typing import Iterable


@dataclass
class Totals:
    spent_micros: int = 0
    calls: int = 0
    denied: int = 0
    models: collections.Counter[str] = field(default_factory=collections.Counter)


def read_events(lines: Iterable[str]) -> Iterable[dict]:
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError as error:
            print(f"line {number}: {error.msg} at column {error.colno}", file=sys.stderr)


def summarise(events: Iterable[dict]) -> dict[str, Totals]:
    totals: dict[str, Totals] = collections.defaultdict(Totals)
    for event in events:
        budget = event.get("budget", "?")
        if event["kind"] == "charge":
            totals[budget].spent_micros += int(event["cost_micros"])
            totals[budget].calls += 1
            totals[budget].models[event.get("model", "unknown")] += 1
        elif event["kind"] == "denied":
            totals[budget].denied += 1
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("log", type=argparse.FileType("r"), nargs="?", default=sys.stdin)
    parser.add_argument("--top", type=int, default=3, help="models to show per budget")
    args = parser.parse_args(argv)
    for budget, t in sorted(summarise(read_events(args.log)).items()):
        models = ", ".join(f"{m}×{n}" for m, n in t.models.most_common(args.top))
        print(f"{budget:<32} ${t.spent_micros / 1e6:>10.2f} {t.calls:>6} calls "
              f"{t.denied:>4} denied  [{models}]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
