"""A budget guard for a whole run (an agent's loop): `revoked` is set when the budget
(or one above it) revokes the run's class, or is frozen, so the run stops at its next
step (`check()` raises Revoked). Read from the event stream, after reading the
budget's state once the stream is up, so a revocation in between is not missed."""
from __future__ import annotations

import threading

from .errors import Revoked, TollgateError

RANK = {"low": 0, "normal": 1, "high": 2, "critical": 3}


def _on_path(budget: str, scope: str) -> bool:
    return scope == "" or budget == scope or budget.startswith(scope + "/")


class BudgetGuard:
    def __init__(self, gate, budget=None, cls: str = "normal"):
        self.gate = gate
        self.budget = budget or gate.budget
        self.cls = cls
        self.revoked = threading.Event()
        self.stream = gate.stream(kinds=["revoked", "budget_changed"])
        threading.Thread(target=self._run, name="tollgate-guard", daemon=True).start()
        self.stream.connected.wait(2.0)
        try:
            state = gate.get_budget(self.budget)
            if state.get("frozen") or state.get("locked") or state["classes"][cls]["revoked"]:
                self.revoked.set()
        except (TollgateError, KeyError):
            pass

    def _run(self) -> None:
        try:
            for event in self.stream:
                d = event.data
                if not _on_path(self.budget, d.get("budget") or ""):
                    continue
                if ((event.kind == "revoked" and RANK.get(d.get("class"), -1) >= RANK[self.cls])
                        or (event.kind == "budget_changed" and d.get("detail") == "frozen")):
                    self.revoked.set()
        except Exception:  # noqa: BLE001 - no stream (memory store): check() still reads state
            self.stream.connected.set()

    def check(self) -> None:
        if self.revoked.is_set():
            raise Revoked(0, self.budget)

    def close(self) -> None:
        self.stream.close()

    def __enter__(self) -> "BudgetGuard":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
