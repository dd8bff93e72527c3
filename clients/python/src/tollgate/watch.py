"""Brings a hold's revocation to the work that runs under it, within a second.

One thread per client reads the event stream for `revoked` events. When one names
a budget on an open hold's path, the hold is read back (GET /v1/holds/{id}) and, if
the daemon marked it `cancel_requested`, the hold's flag is set and its callbacks
run. A hold registered before the stream is connected is read back once it is, so
a revocation in between is not missed. On a daemon without durable events (the
memory store answers the stream 501) or a key the stream refuses, the thread polls
the open holds every 250 ms instead.
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Dict, Optional

from .errors import ApiError, TollgateError
from .sse import EventStream

if TYPE_CHECKING:
    from .hold import Hold

POLL_S = 0.25


def _under(budget: str, scope: str) -> bool:
    return scope == "" or budget == scope or budget.startswith(scope + "/")


class Watcher:
    def __init__(self, client):
        self.client = client
        self.holds: Dict[int, "Hold"] = {}
        self.lock = threading.Lock()
        self.stream: Optional[EventStream] = None
        self.thread: Optional[threading.Thread] = None
        self.polling = threading.Event()
        self.wake = threading.Event()
        self.stopped = False

    def add(self, hold: "Hold") -> None:
        with self.lock:
            self.holds[hold.id] = hold
            if self.thread is None:
                self.stream = EventStream(self.client.transport, kinds=["revoked"])
                self.thread = threading.Thread(target=self._run, name="tollgate-watch", daemon=True)
                self.thread.start()
        # A revocation before the stream opened would not be streamed: read the hold back
        # once the stream is up (or now, if it does not come up soon).
        if not self.polling.is_set():
            self.stream.connected.wait(2.0)
        self._check(hold)

    def remove(self, hold: "Hold") -> None:
        with self.lock:
            self.holds.pop(hold.id, None)

    def close(self) -> None:
        self.stopped = True
        self.wake.set()
        if self.stream is not None:
            self.stream.close()

    def _check(self, hold: "Hold") -> None:
        if hold.cancelled.is_set():
            return
        try:
            state = self.client.get_hold(hold.id)
        except (ApiError, TollgateError):
            return  # committed, released or expired meanwhile: nothing runs under it
        if state.get("cancel_requested"):
            hold._cancel()

    def _run(self) -> None:
        try:
            for event in self.stream:
                if self.stopped:
                    return
                budget = event.data.get("budget") or ""
                with self.lock:
                    hit = [h for h in self.holds.values() if _under(h.budget, budget)]
                for hold in hit:
                    self._check(hold)
        except ApiError:
            pass  # 501 on the memory store, or a key the stream refuses: poll instead
        except Exception:  # noqa: BLE001 - the watcher must not die silently; poll instead
            pass
        if self.stopped:
            return
        self.polling.set()
        if self.stream is not None:
            self.stream.connected.set()  # release anyone waiting for the stream
        while not self.stopped:
            with self.lock:
                open_holds = list(self.holds.values())
            for hold in open_holds:
                self._check(hold)
            self.wake.wait(POLL_S)
