"""HTTP/1.1 to the daemon with the standard library only (http.client).

One keep-alive connection per thread. A request that gets no answer (connection
refused or reset, the daemon killed mid-reply) or a 5xx that may pass (503, 500,
502, 504) is sent again, unchanged, until `retry_for` seconds have passed: the
caller's idempotency key travels inside the unchanged body, so a retry of a hold,
commit, release or charge the daemon already applied is answered from its record
(`"replayed": true`) and never applied twice.
"""
from __future__ import annotations

import http.client
import json
import random
import threading
import time
import urllib.parse
from typing import Any, Callable, Dict, Optional, Tuple

from .errors import ApiError, Refused, Unavailable

# 501 (unsupported, not_implemented) and 505 say the same thing on every retry.
_TRANSIENT = {500, 502, 503, 504}


class Transport:
    def __init__(self, base_url: str, key: Optional[str], timeout: float = 30.0,
                 retry_for: float = 30.0,
                 on_retry: Optional[Callable[[int, BaseException], None]] = None):
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"base_url must be http(s)://host:port, not {base_url!r}")
        self.scheme = parsed.scheme
        self.host = parsed.hostname
        self.port = parsed.port or (443 if parsed.scheme == "https" else 80)
        self.prefix = parsed.path.rstrip("/")
        self.key = key
        self.timeout = timeout
        self.retry_for = retry_for
        self.on_retry = on_retry
        self._local = threading.local()

    def connection(self, timeout: Optional[float] = None) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        return cls(self.host, self.port, timeout=self.timeout if timeout is None else timeout)

    def headers(self, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
        h = {"Accept": "application/json"}
        if self.key:
            h["Authorization"] = f"Bearer {self.key}"
        if extra:
            h.update(extra)
        return h

    def _once(self, method: str, path: str, body: Optional[bytes]) -> Tuple[int, bytes, str]:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self.connection()
        headers = self.headers({"Content-Type": "application/json"} if body is not None else None)
        try:
            conn.request(method, self.prefix + path, body=body, headers=headers)
            res = conn.getresponse()
            data = res.read()
        except BaseException:
            conn.close()
            self._local.conn = None
            raise
        if res.getheader("Connection", "").lower() == "close":
            conn.close()
            self._local.conn = None
        return res.status, data, res.getheader("Content-Type", "")

    def request(self, method: str, path: str, body: Any = None, query: Optional[Dict[str, Any]] = None,
                raw: bool = False) -> Any:
        if query:
            pairs = {k: v for k, v in query.items() if v is not None}
            if pairs:
                path += "?" + urllib.parse.urlencode(pairs)
        data = None if body is None else json.dumps(body).encode()
        deadline = time.monotonic() + self.retry_for
        delay = 0.05
        attempt = 0
        while True:
            attempt += 1
            try:
                status, payload, ctype = self._once(method, path, data)
                if status not in _TRANSIENT:
                    return _answer(status, payload, ctype, raw)
                error: BaseException = _api_error(status, payload)
            except (OSError, http.client.HTTPException) as e:
                error = e
            if time.monotonic() + delay > deadline:
                if isinstance(error, ApiError):
                    raise error
                raise Unavailable(f"tollgate at {self.host}:{self.port} unreachable: {error}", error)
            if self.on_retry:
                self.on_retry(attempt, error)
            time.sleep(delay * (0.5 + random.random() / 2))
            delay = min(delay * 2, 1.0)


def _api_error(status: int, payload: bytes) -> ApiError:
    try:
        body = json.loads(payload)
        err = body.get("error", {}) if isinstance(body, dict) else {}
        return ApiError(status, err.get("code", "http_%d" % status), err.get("message", ""), body)
    except ValueError:
        return ApiError(status, "http_%d" % status, payload.decode("utf-8", "replace")[:200])


def _answer(status: int, payload: bytes, ctype: str, raw: bool) -> Any:
    if status == 402:
        body = json.loads(payload)
        raise Refused(body.get("refusal", {}))
    if status >= 400:
        raise _api_error(status, payload)
    if raw:
        return payload.decode("utf-8", "replace")
    if not payload:
        return None
    return json.loads(payload)
