"""The event stream (GET /v1/events/stream) as an iterator of events.

Server-sent events are read line by line from one long response. A dropped
connection is reopened with `Last-Event-ID` set to the last id received, which the
daemon answers with every event after it (no gap, no repeat), so a reader that
reconnects sees each event once.
"""
from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional

from ._transport import Transport, _answer


@dataclass
class Event:
    id: Optional[int]
    kind: str
    data: Dict[str, Any] = field(default_factory=dict)


class EventStream:
    """Iterate to receive events; close() (from any thread) ends the iteration."""

    def __init__(self, transport: Transport, since: Optional[int] = None, kinds: Optional[List[str]] = None,
                 budgets: Optional[List[str]] = None, severity: Optional[str] = None,
                 reconnect: bool = True):
        self.t = transport
        self.last_id = since
        self.query: Dict[str, str] = {}
        if kinds:
            self.query["kinds"] = ",".join(kinds)
        if budgets:
            self.query["budgets"] = ",".join(budgets)
        if severity:
            self.query["severity"] = severity
        self.reconnect = reconnect
        self.connected = threading.Event()  # set while a response is open
        self._closed = False
        self._conn: Optional[http.client.HTTPConnection] = None

    def close(self) -> None:
        self._closed = True
        conn = self._conn
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)  # wakes a reader blocked in recv
            except OSError:
                pass

    def __enter__(self) -> "EventStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _open(self) -> http.client.HTTPResponse:
        path = self.t.prefix + "/v1/events/stream"
        if self.query:
            path += "?" + urllib.parse.urlencode(self.query)
        extra = {"Accept": "text/event-stream"}
        if self.last_id is not None:
            extra["Last-Event-ID"] = str(self.last_id)
        # Keep-alive comments come every 15 s by default: silence far past that is a dead peer.
        conn = self._conn = self.t.connection(timeout=60.0)
        conn.request("GET", path, headers=self.t.headers(extra))
        res = conn.getresponse()
        if res.status != 200:
            payload = res.read()
            conn.close()
            _answer(res.status, payload, res.getheader("Content-Type", ""), False)
            raise http.client.HTTPException(f"event stream answered {res.status}")
        return res

    def __iter__(self) -> Iterator[Event]:
        delay = 0.05
        while not self._closed:
            try:
                res = self._open()
            except (OSError, http.client.HTTPException):
                if not self.reconnect or self._closed:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            delay = 0.05
            self.connected.set()
            try:
                yield from self._read(res)
            except (OSError, http.client.HTTPException, ValueError):
                if not self.reconnect or self._closed:
                    if self._closed:
                        return
                    raise
            finally:
                self.connected.clear()
                if self._conn is not None:
                    self._conn.close()
            if not self.reconnect:
                return

    def _lines(self, res: http.client.HTTPResponse) -> Iterator[str]:
        # read1 returns what has arrived (readline on a chunked body waits to fill a peek).
        buffer = b""
        while not self._closed:
            chunk = res.read1(65536)
            if not chunk:
                return  # the daemon ended the stream (stopped, or the key changed)
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                yield line.decode("utf-8").rstrip("\r")

    def _read(self, res: http.client.HTTPResponse) -> Iterator[Event]:
        kind, data, ident = "message", [], None
        for text in self._lines(res):
            if text == "":
                if data:
                    payload = json.loads("\n".join(data))
                    if ident is not None:
                        self.last_id = ident
                    yield Event(ident, kind, payload)
                    if kind == "closed":
                        self._closed = True
                        return
                kind, data, ident = "message", [], None
            elif text.startswith(":"):
                continue
            else:
                name, _, value = text.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "event":
                    kind = value
                elif name == "data":
                    data.append(value)
                elif name == "id":
                    ident = int(value)
