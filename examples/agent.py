#!/usr/bin/env python3
"""A support agent with a metered search tool and a critical refund tool (Python).

Against `make run`'s daemon, in the folder where you ran it:
    export TOLLGATE_URL=http://127.0.0.1:8420 TOLLGATE_KEY=$(cat .tollgate-admin-key)
    PYTHONPATH=clients/python/src python3 examples/agent.py

The policy of examples/tollgate.yaml makes `web_search` low and `refund_*` critical:
when team/support-agent reaches its revoke_at, searches are refused (or stopped
mid-call) while refunds still go through up to the limit.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python", "src"))

from tollgate import Metered, Refused, Revoked, Tollgate, current_hold  # noqa: E402

gate = Tollgate(budget=os.environ.get("TOLLGATE_BUDGET", "team/support-agent"))


@gate.tool(price=20_000)  # hold 0.02 per search; the search reports what it cost
def web_search(query: str):
    current_hold().check()  # stop here if the budget was revoked meanwhile
    return Metered([f"kb article about {query}"], 12_000)


@gate.tool(price=lambda order, amount_micros: amount_micros)  # refund_* is critical by policy
def refund_order(order: str, amount_micros: int):
    return {"order": order, "refunded_micros": amount_micros, "cost_micros": amount_micros}


def handle(ticket):
    order, problem, amount = ticket
    try:
        hits = web_search(problem)
        print(f"{order}: searched '{problem}' -> {hits[0]}")
        if amount:
            done = refund_order(order, amount)
            print(f"{order}: refunded {done['refunded_micros'] / 1e6:.2f}")
    except Refused as refusal:
        print(f"{order}: refused ({refusal.reason}); fits {refusal.max_amount_micros} micros; "
              f"retry after {refusal.retry_after} s")
    except Revoked:
        print(f"{order}: stopped, the budget was revoked mid-call")


if __name__ == "__main__":
    for ticket in [("A-1001", "late delivery", 0), ("A-1002", "broken item", 35_000_000),
                   ("A-1003", "wrong size", 0)]:
        handle(ticket)
    state = gate.get_budget(gate.budget)
    print(f"{gate.budget}: spent {state['spent_micros'] / 1e6:.2f} of {state['limit_micros'] / 1e6:.2f}")
    gate.close()
