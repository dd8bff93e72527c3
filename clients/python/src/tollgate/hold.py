"""A hold as a context manager, and the tool decorator built on it.

    with gate.hold("team/a", amount_micros=250_000, tool="web_search") as h:
        result = search(q)          # h.cancelled is set if the class is revoked
        h.actual_micros = result.cost
    # committed at the actual cost; released if the block raised

The hold's idempotency keys (hold, commit, release) are made when the hold is
opened and reused on every retry, so a daemon restart between the work and its
commit charges the work once.
"""
from __future__ import annotations

import contextvars
import functools
import inspect
import threading
import uuid
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Union

from .errors import Revoked

_current: contextvars.ContextVar[Optional["Hold"]] = contextvars.ContextVar("tollgate_hold", default=None)


def current_hold() -> Optional["Hold"]:
    """The hold the running tool works under (inside gate.hold or a @gate.tool)."""
    return _current.get()


@dataclass
class Metered:
    """Return this from a tool to report its actual cost: the caller gets `value`."""

    value: Any
    cost_micros: int


def reported_cost(result: Any) -> Optional[int]:
    """The actual cost a tool's return value reports, if any (Metered, a dict or an
    object with `cost_micros`)."""
    if isinstance(result, Metered):
        return result.cost_micros
    cost = result.get("cost_micros") if isinstance(result, dict) else getattr(result, "cost_micros", None)
    if isinstance(cost, bool) or not isinstance(cost, int):
        return None
    return cost


class Hold:
    """An open hold. Set `actual_micros` (or tokens and `model`) before the block ends."""

    def __init__(self, client, budget: str, amount_micros: int, tool: Optional[str] = None,
                 model: Optional[str] = None, tokens: Optional[int] = None, cls: Optional[str] = None,
                 ttl_ms: Optional[int] = None, idempotency_key: Optional[str] = None, watch: bool = True):
        self.client = client
        self.budget = budget
        self.amount_micros = amount_micros
        self.tool, self.model, self.tokens, self.cls, self.ttl_ms = tool, model, tokens, cls, ttl_ms
        base = idempotency_key or f"tg-{uuid.uuid4().hex}"
        self.keys = {"hold": base, "commit": base + ":c", "release": base + ":r"}
        self.watch = watch
        self.id: Optional[int] = None
        self.answer: dict = {}
        self.actual_micros: Optional[int] = None
        self.tokens_in: Optional[int] = None
        self.tokens_out: Optional[int] = None
        self.cancelled = threading.Event()
        self._callbacks: List[Callable[["Hold"], None]] = []
        self._token: Optional[contextvars.Token] = None
        self.charge: Optional[dict] = None

    # -- cancellation --------------------------------------------------------------
    def on_cancel(self, callback: Callable[["Hold"], None]) -> None:
        """Run `callback(hold)` (on the watcher's thread) when the hold is revoked."""
        self._callbacks.append(callback)
        if self.cancelled.is_set():
            callback(self)

    def check(self) -> None:
        """Raise Revoked if the hold's class was revoked: call it between steps."""
        if self.cancelled.is_set():
            raise Revoked(self.id or 0, self.budget)

    def _cancel(self) -> None:
        if self.cancelled.is_set():
            return
        self.cancelled.set()
        for callback in list(self._callbacks):
            try:
                callback(self)
            except Exception:  # noqa: BLE001 - one bad callback must not stop the others
                pass

    # -- the three calls -----------------------------------------------------------
    def open(self) -> "Hold":
        self.answer = self.client.reserve(
            self.budget, amount_micros=self.amount_micros, tool=self.tool, model=self.model,
            tokens=self.tokens, cls=self.cls, ttl_ms=self.ttl_ms, idempotency_key=self.keys["hold"])
        self.id = self.answer["hold_id"]
        if self.watch:
            self.client._watcher().add(self)
        return self

    def commit(self, actual_micros: Optional[int] = None, model: Optional[str] = None) -> dict:
        self._unwatch()
        if actual_micros is None and model is None:
            actual_micros = self.actual_micros if self.actual_micros is not None else self.amount_micros
        self.charge = self.client.commit(self.id, actual_micros=actual_micros, model=model,
                                         tokens_in=self.tokens_in, tokens_out=self.tokens_out,
                                         idempotency_key=self.keys["commit"])
        return self.charge

    def release(self) -> dict:
        self._unwatch()
        return self.client.release(self.id, idempotency_key=self.keys["release"])

    def _unwatch(self) -> None:
        if self.watch and self.id is not None:
            self.client._watcher().remove(self)

    # -- with ---------------------------------------------------------------------
    def __enter__(self) -> "Hold":
        self.open()
        self._token = _current.set(self)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._token is not None:
            _current.reset(self._token)
            self._token = None
        if exc_type is None:
            self.commit(model=self.model if self.actual_micros is None and self.tokens_in else None)
            return
        try:
            self.release()
        except Exception:  # noqa: BLE001 - the hold expires at its TTL; the work's error matters more
            pass


Price = Union[int, Callable[..., int]]


def tool_decorator(client, price: Price, cls: Optional[str] = None, budget: Optional[str] = None,
                   name: Optional[str] = None, **hold_args: Any):
    """@gate.tool(price=..., cls=..., budget=...): hold `price` before each call, commit the
    cost the return value reports (or `price`), release when the call raises."""

    def decorate(fn: Callable) -> Callable:
        tool = name or fn.__name__
        where = budget or client.budget
        if where is None:
            raise ValueError("gate.tool needs budget= (or a client made with budget=)")

        def amount(args, kwargs) -> int:
            return price(*args, **kwargs) if callable(price) else price

        if inspect.iscoroutinefunction(fn):
            from .aio import AsyncHold

            @functools.wraps(fn)
            async def run_async(*args, **kwargs):
                async with AsyncHold(client, where, amount(args, kwargs), tool=tool, cls=cls, **hold_args) as h:
                    result = await fn(*args, **kwargs)
                    return _settle(h, result)

            return run_async

        @functools.wraps(fn)
        def run(*args, **kwargs):
            with Hold(client, where, amount(args, kwargs), tool=tool, cls=cls, **hold_args) as h:
                result = fn(*args, **kwargs)
                return _settle(h, result)

        return run

    return decorate


def _settle(hold, result: Any) -> Any:
    cost = reported_cost(result)
    if cost is not None:
        hold.actual_micros = cost
    return result.value if isinstance(result, Metered) else result
