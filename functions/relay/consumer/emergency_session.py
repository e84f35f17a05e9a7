"""The partner's calls and panics as one invocation sees them: each request retried inside the time budget
when that is safe, and when to stop calling.

- 429/503 with a short Retry-After: wait and retry; otherwise stop calling the partner for this
  invocation (the messages come back after the delay).
- 5xx, timeouts, dropped connections: back off and retry, `attempts` times, but only a request that is
  safe to repeat (`Repeat`): a panic (at least once) and a read (`PATCH {}`) always; a PATCH carrying
  values only after an answer that ended it (a 500 of Northca's own): one whose answer was lost may
  still land, and a copy of it would be a second request that may land after a newer one of the call
  (the caller keeps the call's lease instead). A create is never repeated here: the caller first looks
  for the call (relay.consumer.call_desk).
- 401 after a fresh key fetch: stop. 403: that MDT and guild only. Both are logged in the words the
  partner-refuses-setup alarm counts.
- 400, 404, 405, 409, 413, 422: the caller's to read (a refused call, a unit not active, a call gone).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal, TypeVar

from relay.consumer.invocation import OUT_OF_TIME, Invocation
from relay.errors import (
    NorthcaAuthError,
    NorthcaError,
    NorthcaForbiddenError,
    NorthcaInvalidRequestError,
    NorthcaNotFoundError,
    NorthcaPayloadTooLargeError,
    NorthcaServerError,
    NorthcaThrottledError,
    NorthcaUnexpectedStatusError,
    PartnerStoppedError,
)
from relay.observability import logger
from relay.ports.partner import EmergencyWriter

T = TypeVar("T")
# When a failed request is sent again here: "always"; "if-over" (only after a failure that ended it:
# nothing was sent, or Northca itself answered); "never" after a failure that may have applied it.
Repeat = Literal["always", "if-over", "never"]

# The partner's answers that a caller reads itself.
ANSWERS = (
    NorthcaInvalidRequestError,
    NorthcaNotFoundError,
    NorthcaPayloadTooLargeError,
    NorthcaUnexpectedStatusError,
)


def answered(exc: NorthcaError) -> bool:
    """The partner's application answered: the request is over, it cannot land later (a 500 does; a
    gateway's 502 or 504, a timeout or a dropped connection say nothing of the request behind them)."""
    return isinstance(exc, NorthcaServerError) and exc.status is not None and exc.status < 502


class EmergencySession:
    """One invocation's calls to the partner for calls and panics."""

    def __init__(self, run: Invocation, writer: EmergencyWriter) -> None:
        self.writer = writer
        self.settings = run.deps.settings
        self.sleep = run.deps.sleep
        self.outcome = run.outcome
        self.budget = run.budget
        self.forbidden: set[tuple[str, str]] = set()
        # The partner refused an empty PATCH (a read) once: calls are patched without reading first.
        self.reads_refused = False

    def attempt(self, mdt_id: str, guild_id: str, call: Callable[[], T], *, repeat: Repeat) -> T:
        """The request, retried as the policy says; raises the last error, or PartnerStoppedError."""
        attempt = 0
        while True:
            self._check_can_call(mdt_id, guild_id)
            attempt += 1
            try:
                return call()
            except ANSWERS:
                raise
            except NorthcaError as exc:
                wait = self._wait_before_retry(exc, mdt_id, guild_id, attempt, repeat)
            except Exception as exc:  # noqa: BLE001 - e.g. the secret could not be read: as unavailable
                logger.exception("partner client failed", extra={"error": type(exc).__name__})
                self.budget.stop("partner client error")
                raise NorthcaError(type(exc).__name__) from None
            self.sleep(wait)

    def setup_problem(self, mdt_id: str, exc: NorthcaError, reason: str) -> None:
        """An answer no call or panic of this MDT can get past: counted, alarmed, the rest given back."""
        self.outcome.misconfigured += 1
        logger.error(
            "PARTNER ANSWER POINTS AT A CONFIGURATION PROBLEM: this MDT's calls and panics are given back",
            extra={"mdt_id": mdt_id, "reason": reason, "status": exc.status, "error": exc.message},
        )

    def _check_can_call(self, mdt_id: str, guild_id: str) -> None:
        if self.budget.stopped is not None:
            raise PartnerStoppedError(self.budget.stopped)
        if (mdt_id, guild_id) in self.forbidden:
            raise PartnerStoppedError("mdt not linked")
        if not self.budget.can_start():
            raise PartnerStoppedError(OUT_OF_TIME)

    def _wait_before_retry(
        self, exc: NorthcaError, mdt_id: str, guild_id: str, attempt: int, repeat: Repeat
    ) -> float:
        if isinstance(exc, NorthcaThrottledError):
            wait = exc.retry_after
            if (
                wait is not None
                and wait <= self.settings.max_inline_wait_seconds
                and attempt < self.settings.attempts
                and self.budget.can_wait(wait)
            ):
                return wait
            logger.warning("partner throttles", extra={"status": exc.status, "retry_after": wait})
            self.budget.stop("throttled")
            delay = self.settings.throttle_delay_seconds if wait is None else math.ceil(wait)
            self.outcome.throttle_delay = min(delay, self.settings.max_visibility_delay_seconds)
            raise exc
        if isinstance(exc, NorthcaAuthError):
            logger.error("PARTNER KEY REFUSED after a fresh fetch", extra={"error": exc.message})
            self.outcome.misconfigured += 1
            self.budget.stop("partner key refused")
            raise exc
        if isinstance(exc, NorthcaForbiddenError):
            logger.error(
                "PARTNER REFUSES THIS MDT/GUILD after a fresh key fetch",
                extra={"mdt_id": mdt_id, "guild_id": guild_id, "error": exc.message},
            )
            self.forbidden.add((mdt_id, guild_id))
            self.outcome.misconfigured += 1
            raise exc
        if exc.maybe_applied and (repeat == "never" or (repeat == "if-over" and not answered(exc))):
            raise exc
        backoff = min(self.settings.max_backoff_seconds, self.settings.backoff_seconds * 2.0 ** (attempt - 1))
        logger.warning(
            "partner call failed", extra={"status": exc.status, "error": exc.message, "attempt": attempt}
        )
        if attempt >= self.settings.attempts or not self.budget.can_wait(backoff):
            raise exc
        return backoff
