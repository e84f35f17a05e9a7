"""The partner as one invocation sees it: retries within the time budget, 400 bisection, and when to
stop calling it (throttled, out of time, key refused, MDT not linked)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from relay.consumer.merge import GroupKey, MdtBatch
from relay.consumer.unit_state import UnitKey, UnitState
from relay.errors import (
    NorthcaAuthError,
    NorthcaError,
    NorthcaForbiddenError,
    NorthcaInvalidRequestError,
    NorthcaThrottledError,
    PartnerStoppedError,
)
from relay.observability import logger

if TYPE_CHECKING:
    from relay.consumer.pipeline import BatchOutcome, ConsumerDeps


def chunks[T](items: Sequence[T], size: int) -> list[list[T]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


@dataclass
class WriteResult:
    written: list[UnitState] = field(default_factory=list)
    refused: dict[UnitKey, str] = field(default_factory=dict)  # unit -> the partner's error message
    failed: list[UnitState] = field(default_factory=list)

    def extend(self, other: WriteResult) -> None:
        self.written += other.written
        self.refused |= other.refused
        self.failed += other.failed


class PartnerSession:
    """The partner as one invocation sees it: retries within budget, and when to stop calling it."""

    def __init__(self, deps: ConsumerDeps, outcome: BatchOutcome) -> None:
        self.deps = deps
        self.settings = deps.settings
        self.outcome = outcome
        self.forbidden: set[GroupKey] = set()

    def _can_wait(self, seconds: float) -> bool:
        return self.deps.remaining_ms() - seconds * 1000 >= self.settings.min_remaining_ms

    def _stop(self, reason: str, delay: float | None = None) -> None:
        if self.outcome.stopped is None:
            self.outcome.stopped = reason
        if reason == "throttled":
            wanted = self.settings.throttle_delay_seconds if delay is None else math.ceil(delay)
            self.outcome.throttle_delay = min(wanted, self.settings.max_visibility_delay_seconds)

    def _check_can_call(self, group: MdtBatch) -> None:
        if self.outcome.stopped is not None:
            raise PartnerStoppedError(self.outcome.stopped)
        if (group.mdt_id, group.guild_id) in self.forbidden:
            raise PartnerStoppedError("mdt not linked")
        if self.deps.remaining_ms() < self.settings.min_remaining_ms:
            self._stop("out of time")
            raise PartnerStoppedError("out of time")

    def write_units(self, group: MdtBatch, states: list[UnitState]) -> WriteResult:
        """PUT these units; on a 400 split the request in two until the refused units are isolated."""
        try:
            self._call(group, states)
        except NorthcaInvalidRequestError as exc:
            if len(states) == 1:
                logger.error(
                    "partner refuses a unit; its messages go on to the DLQ",
                    extra={"mdt_id": group.mdt_id, "unit_id": states[0].key.unit_id, "error": exc.message},
                )
                return WriteResult(refused={states[0].key: exc.message})
            middle = len(states) // 2
            result = self.write_units(group, states[:middle])
            result.extend(self.write_units(group, states[middle:]))
            return result
        except (NorthcaError, PartnerStoppedError):
            return WriteResult(failed=list(states))
        return WriteResult(written=list(states))

    def _call(self, group: MdtBatch, states: list[UnitState]) -> None:
        records = [s.record() for s in states]
        attempt = 0
        while True:
            self._check_can_call(group)
            attempt += 1
            self.outcome.puts += 1
            try:
                self.deps.writer.upsert_units(group.mdt_id, group.guild_id, records, group.actor)
                return
            except NorthcaThrottledError as exc:
                wait = exc.retry_after
                if (
                    wait is not None
                    and wait <= self.settings.max_inline_wait_seconds
                    and attempt < self.settings.attempts
                    and self._can_wait(wait)
                ):
                    self.deps.sleep(wait)
                    continue
                logger.warning("partner throttles", extra={"status": exc.status, "retry_after": wait})
                self._stop("throttled", wait)
                raise
            except NorthcaAuthError as exc:
                # The writer already fetched the key again once: the key itself is wrong.
                logger.error("PARTNER KEY REFUSED after a fresh fetch", extra={"error": exc.message})
                self._stop("partner key refused")
                raise
            except NorthcaForbiddenError as exc:
                logger.error(
                    "PARTNER REFUSES THIS MDT/GUILD after a fresh key fetch",
                    extra={"mdt_id": group.mdt_id, "guild_id": group.guild_id, "error": exc.message},
                )
                self.forbidden.add((group.mdt_id, group.guild_id))
                raise
            except NorthcaInvalidRequestError:
                raise
            except NorthcaError as exc:
                backoff = min(
                    self.settings.max_backoff_seconds, self.settings.backoff_seconds * 2 ** (attempt - 1)
                )
                logger.warning(
                    "partner call failed",
                    extra={"status": exc.status, "error": exc.message, "attempt": attempt},
                )
                if attempt >= self.settings.attempts:
                    self._stop("partner unavailable")
                    raise
                if not self._can_wait(backoff):
                    self._stop("out of time")
                    raise
                self.deps.sleep(backoff)
            except Exception as exc:  # noqa: BLE001 - e.g. the secret could not be read: same as unavailable
                logger.error("partner client failed", extra={"error": type(exc).__name__})
                self._stop("partner client error")
                raise NorthcaError(type(exc).__name__) from None
