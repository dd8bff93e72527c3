"""Tollgate client: budgets, holds, charges and events of a `tollgate serve` daemon.

    from tollgate import Tollgate
    gate = Tollgate("http://127.0.0.1:8420", key, budget="team/support-agent")
    with gate.hold(amount_micros=250_000, tool="web_search") as h:
        h.actual_micros = run_search()

See docs/clients.md.
"""
from .aio import AsyncHold, AsyncTollgate
from .client import Tollgate
from .guard import BudgetGuard
from .errors import ApiError, Refused, Revoked, TollgateError, Unavailable
from .hold import Hold, Metered, current_hold, reported_cost
from .sse import Event, EventStream

__version__ = "0.1.0"
__all__ = ["Tollgate", "BudgetGuard", "AsyncTollgate", "Hold", "AsyncHold", "Metered", "current_hold", "reported_cost",
           "TollgateError", "ApiError", "Refused", "Revoked", "Unavailable", "Event", "EventStream"]
