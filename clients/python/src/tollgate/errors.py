"""Typed errors of the Tollgate client.

A refusal (HTTP 402) is not a failure of the daemon: it is the budget's answer, with
advice on what would fit and when to try again, so it has its own type carrying
that advice. Everything else the daemon answers with an error body is ApiError
with its stable `code`; a daemon that cannot be reached within the retry window
is Unavailable.
"""
from __future__ import annotations

from typing import Any, Dict, Optional


class TollgateError(Exception):
    """Base of every error this package raises."""


class ApiError(TollgateError):
    """The daemon answered an error: `status` (HTTP), `code` (stable, see docs/api.md)."""

    def __init__(self, status: int, code: str, message: str, body: Any = None):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.body = body


class Refused(TollgateError):
    """HTTP 402: the budget refused the hold or charge.

    reason: ceiling, revoked, frozen, calls, tokens or overrun.
    max_amount_micros: the largest amount that fits now (0 when nothing does).
    retry_after_ms / retry_after (seconds): when trying again may succeed; None when
    only a person can help (raise the limit, unfreeze, approve).
    approval_id: set when the daemon opened an approval for this request.
    """

    def __init__(self, refusal: Dict[str, Any]):
        self.refusal = refusal
        self.code = refusal.get("code", "refused")
        self.reason = refusal.get("reason")
        self.budget = refusal.get("budget")
        self.message = refusal.get("message", "refused")
        self.max_amount_micros = refusal.get("max_amount_micros")
        self.retry_after_ms = refusal.get("retry_after_ms")
        self.approval_id = refusal.get("approval_id")
        super().__init__(f"refused ({self.reason}) on {self.budget}: {self.message}")

    @property
    def retry_after(self) -> Optional[float]:
        return None if self.retry_after_ms is None else self.retry_after_ms / 1000.0


class Revoked(TollgateError):
    """The hold's class was revoked on its budget while the work ran (cancel_requested)."""

    def __init__(self, hold_id: int, budget: str):
        super().__init__(f"hold {hold_id} on {budget} was revoked: stop the work")
        self.hold_id = hold_id
        self.budget = budget


class Unavailable(TollgateError):
    """The daemon could not be reached, or answered 5xx, for the whole retry window."""

    def __init__(self, message: str, last: Optional[BaseException] = None):
        super().__init__(message)
        self.last = last
