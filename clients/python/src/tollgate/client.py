"""Tollgate: one method per route of docs/api.md, plus holds as context managers.

Money is integer micros (1 USD = 1,000,000). Every hold, commit, release and charge
carries an idempotency key: the caller's, or one made here for the call and reused
on each of its retries, so a retry after a lost answer is never charged twice.
"""
from __future__ import annotations

import os
import threading
import urllib.parse
import uuid
from typing import Any, Callable, Dict, List, Optional

from ._transport import Transport
from .hold import Hold, Price, tool_decorator
from .sse import EventStream
from .watch import Watcher


def _key(given: Optional[str]) -> str:
    return given if given is not None else f"tg-{uuid.uuid4().hex}"


def _path(budget: str) -> str:
    if not budget:
        raise ValueError("a budget path is required")
    return urllib.parse.quote(budget, safe="/-._~")


def _body(**fields: Any) -> Dict[str, Any]:
    out = {k.rstrip("_"): v for k, v in fields.items() if v is not None}
    if "cls" in out:
        out["class"] = out.pop("cls")
    return out


class Tollgate:
    """A client of one daemon with one key (default: $TOLLGATE_URL, $TOLLGATE_KEY).

    `budget` is the default budget for gate.tool; `retry_for` how long (seconds) a
    request is retried while the daemon is unreachable or answers 5xx.
    """

    def __init__(self, url: Optional[str] = None, key: Optional[str] = None, budget: Optional[str] = None,
                 timeout: float = 30.0, retry_for: float = 30.0,
                 on_retry: Optional[Callable[[int, BaseException], None]] = None):
        url = url or os.environ.get("TOLLGATE_URL", "http://127.0.0.1:8420")
        key = key if key is not None else os.environ.get("TOLLGATE_KEY")
        self.transport = Transport(url, key, timeout=timeout, retry_for=retry_for, on_retry=on_retry)
        self.budget = budget
        self._watch: Optional[Watcher] = None
        self._watch_lock = threading.Lock()

    def close(self) -> None:
        if self._watch is not None:
            self._watch.close()

    def __enter__(self) -> "Tollgate":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _watcher(self) -> Watcher:
        with self._watch_lock:
            if self._watch is None:
                self._watch = Watcher(self)
            return self._watch

    def _call(self, method: str, path: str, body: Any = None, query: Optional[Dict[str, Any]] = None,
              raw: bool = False) -> Any:
        return self.transport.request(method, path, body, query, raw)

    # -- holds and charges ---------------------------------------------------------
    def reserve(self, budget: str, amount_micros: Optional[int] = None, *, amount: Optional[str] = None,
                tokens: Optional[int] = None, tool: Optional[str] = None, model: Optional[str] = None,
                cls: Optional[str] = None, ttl_ms: Optional[int] = None,
                idempotency_key: Optional[str] = None) -> Dict[str, Any]:
        """POST /v1/holds. Raises Refused (402) with the refusal's advice."""
        return self._call("POST", "/v1/holds", _body(
            budget=budget, amount_micros=amount_micros, amount=amount, tokens=tokens, tool=tool,
            model=model, cls=cls, ttl_ms=ttl_ms, idempotency_key=_key(idempotency_key)))

    def get_hold(self, hold_id: int) -> Dict[str, Any]:
        """GET /v1/holds/{id}: the open hold, with cancel_requested."""
        return self._call("GET", f"/v1/holds/{int(hold_id)}")

    def commit(self, hold_id: int, actual_micros: Optional[int] = None, *, actual: Optional[str] = None,
               model: Optional[str] = None, tokens_in: Optional[int] = None, tokens_out: Optional[int] = None,
               idempotency_key: Optional[str] = None) -> Dict[str, Any]:
        """POST /v1/holds/{id}/commit: the actual cost, or a model to price the tokens at."""
        return self._call("POST", f"/v1/holds/{int(hold_id)}/commit", _body(
            actual_micros=actual_micros, actual=actual, model=model, tokens_in=tokens_in,
            tokens_out=tokens_out, idempotency_key=_key(idempotency_key)))

    def release(self, hold_id: int, *, idempotency_key: Optional[str] = None) -> Dict[str, Any]:
        """POST /v1/holds/{id}/release."""
        return self._call("POST", f"/v1/holds/{int(hold_id)}/release",
                          _body(idempotency_key=_key(idempotency_key)))

    def record(self, budget: str, cost_micros: Optional[int] = None, *, cost: Optional[str] = None,
               tokens_in: Optional[int] = None, tokens_out: Optional[int] = None, tool: Optional[str] = None,
               model: Optional[str] = None, cls: Optional[str] = None, force: Optional[bool] = None,
               idempotency_key: Optional[str] = None) -> Dict[str, Any]:
        """POST /v1/charges: a cost without a hold (refused like a hold unless force)."""
        return self._call("POST", "/v1/charges", _body(
            budget=budget, cost_micros=cost_micros, cost=cost, tokens_in=tokens_in, tokens_out=tokens_out,
            tool=tool, model=model, cls=cls, force=force, idempotency_key=_key(idempotency_key)))

    charge = record

    def batch(self, operations: List[Dict[str, Any]]) -> Dict[str, Any]:
        """POST /v1/batch: up to 1000 {"op": hold|commit|release|charge, ...}; each operation
        without an idempotency key gets one, so a retried batch replays."""
        ops = []
        for op in operations:
            op = dict(op)
            body = dict(op.get("body") or {})
            body.setdefault("idempotency_key", _key(None))
            op["body"] = body
            ops.append(op)
        return self._call("POST", "/v1/batch", {"operations": ops})

    def charges(self, budget: str, since: Optional[int] = None, until: Optional[int] = None,
                after: Optional[int] = None, limit: Optional[int] = None, model: Optional[str] = None,
                key: Optional[str] = None, user: Optional[str] = None, tag: Optional[str] = None,
                provider: Optional[str] = None) -> Dict[str, Any]:
        """GET /v1/charges: one page ({"charges": [...], "next": id}), filtered by the spend
        log's model, key (name), user, tag or provider when given."""
        return self._call("GET", "/v1/charges", query={"budget": budget, "since": since, "until": until,
                                                       "after": after, "limit": limit, "model": model,
                                                       "key": key, "user": user, "tag": tag,
                                                       "provider": provider})

    def all_charges(self, budget: str, **query: Any) -> List[Dict[str, Any]]:
        """Every charge of budget's subtree, page after page."""
        rows: List[Dict[str, Any]] = []
        after = None
        while True:
            page = self.charges(budget, after=after, limit=1000, **query)
            rows.extend(page.get("charges", []))
            if not page.get("charges") or page.get("next") in (None, after):
                return rows
            after = page["next"]

    # -- budgets -------------------------------------------------------------------
    def budgets(self, prefix: Optional[str] = None) -> Dict[str, Any]:
        """GET /v1/budgets?prefix=."""
        return self._call("GET", "/v1/budgets", query={"prefix": prefix})

    def get_budget(self, path: str) -> Dict[str, Any]:
        return self._call("GET", f"/v1/budgets/{_path(path)}")

    def put_budget(self, path: str, **spec: Any) -> Dict[str, Any]:
        """PUT /v1/budgets/{path}: create or replace (limit_micros=, window=, revoke_at_ppm=, ...)."""
        return self._call("PUT", f"/v1/budgets/{_path(path)}", _body(**spec))

    def patch_budget(self, path: str, **spec: Any) -> Dict[str, Any]:
        return self._call("PATCH", f"/v1/budgets/{_path(path)}", _body(**spec))

    def delete_budget(self, path: str) -> Dict[str, Any]:
        return self._call("DELETE", f"/v1/budgets/{_path(path)}")

    def freeze(self, path: str) -> Dict[str, Any]:
        return self._call("POST", f"/v1/budgets/{_path(path)}/freeze", {})

    def unfreeze(self, path: str) -> Dict[str, Any]:
        return self._call("POST", f"/v1/budgets/{_path(path)}/unfreeze", {})

    def history(self, path: str) -> Dict[str, Any]:
        return self._call("GET", f"/v1/budgets/{_path(path)}/history")

    # -- events --------------------------------------------------------------------
    def events(self, since: Optional[int] = None, limit: Optional[int] = None) -> Dict[str, Any]:
        """GET /v1/events: one page ({"events": [...], "next": id})."""
        return self._call("GET", "/v1/events", query={"since": since, "limit": limit})

    def stream(self, since: Optional[int] = None, kinds: Optional[List[str]] = None,
               budgets: Optional[List[str]] = None, severity: Optional[str] = None,
               reconnect: bool = True) -> EventStream:
        """GET /v1/events/stream: iterate it for Event(id, kind, data); close() ends it."""
        return EventStream(self.transport, since, kinds, budgets, severity, reconnect)

    def failed_notifications(self, after: Optional[int] = None, limit: Optional[int] = None) -> Dict[str, Any]:
        """GET /v1/notify/failed: the dead-letter list."""
        return self._call("GET", "/v1/notify/failed", query={"after": after, "limit": limit})

    # -- keys, reload, health --------------------------------------------------------
    def create_key(self, name: str, role: str, scope: Optional[str] = None,
                   class_max: Optional[str] = None) -> Dict[str, Any]:
        """POST /v1/keys: the answer holds the secret, shown this once."""
        return self._call("POST", "/v1/keys", _body(name=name, role=role, scope=scope, class_max=class_max))

    def keys(self) -> Dict[str, Any]:
        return self._call("GET", "/v1/keys")

    def rotate_key(self, name: str) -> Dict[str, Any]:
        return self._call("POST", f"/v1/keys/{urllib.parse.quote(name, safe='')}/rotate", {})

    def delete_key(self, name: str) -> Dict[str, Any]:
        return self._call("DELETE", f"/v1/keys/{urllib.parse.quote(name, safe='')}")

    def reload(self) -> Dict[str, Any]:
        """POST /v1/admin/reload: re-read the config file, all or nothing."""
        return self._call("POST", "/v1/admin/reload", {})

    def healthz(self) -> Dict[str, Any]:
        return self._call("GET", "/healthz")

    def metrics(self) -> str:
        """GET /metrics: Prometheus text."""
        return self._call("GET", "/metrics", raw=True)

    # -- ergonomics ----------------------------------------------------------------
    def hold(self, budget: Optional[str] = None, amount_micros: int = 0, **args: Any) -> Hold:
        """`with gate.hold(budget, amount_micros, tool=...) as h:` holds before the block,
        commits h.actual_micros (default: the amount) after it, releases if it raises."""
        where = budget or self.budget
        if where is None:
            raise ValueError("hold needs a budget")
        return Hold(self, where, amount_micros, **args)

    def tool(self, price: Price, cls: Optional[str] = None, budget: Optional[str] = None,
             name: Optional[str] = None, **hold_args: Any):
        """Decorator: `@gate.tool(price=250_000, cls="critical", budget="team/a")`."""
        return tool_decorator(self, price, cls=cls, budget=budget, name=name, **hold_args)
