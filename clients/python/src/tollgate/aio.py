"""The asyncio client: the same methods as Tollgate, awaited.

Each call runs the blocking client in a worker thread (asyncio.to_thread), so the
event loop never waits on the network and retries keep their idempotency keys.
Inside `async with agate.hold(...)`, a revocation of the hold cancels the task that
entered the block (within a second); the block ends with Revoked, the hold released.
"""
from __future__ import annotations

import asyncio
import functools
from typing import Any, AsyncIterator, Callable, Optional

from .client import Tollgate
from .errors import Revoked
from .hold import Hold, Price, _current, tool_decorator
from .sse import Event


class AsyncHold(Hold):
    def __init__(self, client: Tollgate, *args: Any, **kwargs: Any):
        super().__init__(client, *args, **kwargs)
        self._task: Optional[asyncio.Task] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._we_cancelled = False

    def _cancel_task(self) -> None:
        if self._task is not None and not self._task.done():
            self._we_cancelled = True
            self._task.cancel()

    async def __aenter__(self) -> "AsyncHold":
        await asyncio.to_thread(self.open)
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self.on_cancel(lambda _h: self._loop.call_soon_threadsafe(self._cancel_task))
        self._token = _current.set(self)
        return self

    async def __aexit__(self, exc_type, exc, tb) -> bool:
        if self._token is not None:
            _current.reset(self._token)
            self._token = None
        self._task_done = True
        if exc_type is None:
            await asyncio.to_thread(
                self.commit, None, self.model if self.actual_micros is None and self.tokens_in else None)
            return False
        revoked = self._we_cancelled and issubclass(exc_type, asyncio.CancelledError)
        if revoked and hasattr(self._task, "uncancel"):
            self._task.uncancel()  # ours, not a caller's: asyncio.timeout and TaskGroup stay right
        try:
            await asyncio.to_thread(self.release)
        except Exception:  # noqa: BLE001 - the hold expires at its TTL; the work's error matters more
            pass
        if revoked:
            raise Revoked(self.id or 0, self.budget) from None
        return False


class AsyncTollgate:
    """`agate = AsyncTollgate(url, key)`; every method of Tollgate, as a coroutine."""

    def __init__(self, *args: Any, **kwargs: Any):
        self.sync = Tollgate(*args, **kwargs)
        self.budget = self.sync.budget

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.sync, name)
        if not callable(method) or name.startswith("_"):
            return method

        @functools.wraps(method)
        async def call(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(method, *args, **kwargs)

        return call

    async def __aenter__(self) -> "AsyncTollgate":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.sync.close()

    def hold(self, budget: Optional[str] = None, amount_micros: int = 0, **args: Any) -> AsyncHold:
        where = budget or self.budget
        if where is None:
            raise ValueError("hold needs a budget")
        return AsyncHold(self.sync, where, amount_micros, **args)

    def tool(self, price: Price, cls: Optional[str] = None, budget: Optional[str] = None,
             name: Optional[str] = None, **hold_args: Any):
        return tool_decorator(self.sync, price, cls=cls, budget=budget, name=name, **hold_args)

    async def stream(self, **filters: Any) -> AsyncIterator[Event]:
        """`async for event in agate.stream(kinds=["revoked"])`: read on a thread."""
        stream = self.sync.stream(**filters)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        end = object()

        def pump() -> None:
            try:
                for event in stream:
                    loop.call_soon_threadsafe(queue.put_nowait, event)
            except BaseException as e:  # noqa: BLE001 - handed to the reader
                loop.call_soon_threadsafe(queue.put_nowait, e)
            loop.call_soon_threadsafe(queue.put_nowait, end)

        worker = loop.run_in_executor(None, pump)
        try:
            while True:
                item = await queue.get()
                if item is end:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stream.close()
            await asyncio.wait([worker], timeout=2)
