"""The partner as one invocation sees it: reads and writes with retries inside the time budget, and when
to stop calling it.

- 429/503 with a short Retry-After: wait and retry; otherwise stop calling the partner for this
  invocation and give the messages back with a visibility delay.
- 5xx, timeouts, dropped connections, non-envelope answers: back off and retry, `attempts` times.
- 401 (after the writer fetched the key again): stop. 403: that MDT and guild only.
- 400 on a PUT: split the request until the refused units are isolated; the rest are written.
- 413: split the request; a status the contract does not give for a bad unit (404, 405, 409, 422)
  is a configuration problem: nothing is dead-lettered for it, the units are given back and counted.
- A 2xx is a write only for the ids its `data` lists: the others are uncertain and given back.
- The list read: 404/405 means the partner has no list endpoint (degrade, once); an answer the relay
  cannot fully read (relay.northca.wire.read_unit_list) is not retried: it is counted, logged for the
  alarm, and fails that MDT's units for this invocation, as any other failure of the read does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from relay.consumer.invocation import OUT_OF_TIME, Invocation
from relay.consumer.merge import GroupKey, MdtBatch
from relay.errors import (
    NorthcaAuthError,
    NorthcaError,
    NorthcaForbiddenError,
    NorthcaInvalidRequestError,
    NorthcaNotFoundError,
    NorthcaPacedError,
    NorthcaPayloadTooLargeError,
    NorthcaThrottledError,
    NorthcaUnexpectedStatusError,
    NorthcaUnreadableListError,
    PartnerStoppedError,
)
from relay.observability import logger
from relay.ports.partner import PartnerUnit, UnitRecord

T = TypeVar("T")


def _said(exc: NorthcaError) -> str:
    """The partner's answer in a few words: its status and its own message."""
    return " ".join(part for part in (str(exc.status or ""), exc.message) if part)


def chunks[U](items: Sequence[U], size: int) -> list[list[U]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


@dataclass
class WriteResult:
    """What became of the units of a PUT, by unit id."""

    written: set[str] = field(default_factory=set)
    refused: dict[str, str] = field(default_factory=dict)  # unit id -> the partner's error message
    failed: set[str] = field(default_factory=set)
    # Units an attempt may have written although it failed: such a PUT can still land, late.
    uncertain: set[str] = field(default_factory=set)

    def extend(self, other: WriteResult) -> None:
        self.written |= other.written
        self.refused |= other.refused
        self.failed |= other.failed
        self.uncertain |= other.uncertain


class PartnerSession:
    """One invocation's calls to the partner, and the reason it stopped calling, if it did."""

    def __init__(self, run: Invocation) -> None:
        self.deps = run.deps
        self.settings = run.deps.settings
        self.outcome = run.outcome
        self.budget = run.budget
        # The (MDT, guild) pairs this invocation stopped writing to, each with why in the operator's words:
        # the unit outcomes carry it to the delivery page, `relay sign --wait` and `relay deliveries`.
        self.forbidden: dict[GroupKey, str] = {}

    # ------------------------------------------------------------------ the two calls

    def list_units(self, group: MdtBatch) -> dict[str, PartnerUnit] | None:
        """The partner's units of this MDT, or None when it has no list endpoint (degraded)."""
        try:
            units = self._attempt(group, lambda: self.deps.writer.list_units(group.mdt_id, group.guild_id))
        except NorthcaNotFoundError:
            if not self.outcome.degraded:
                logger.warning(
                    "the partner has no list endpoint: sending only the fields the relay knows",
                    extra={"mdt_id": group.mdt_id},
                )
            self.outcome.degraded = True
            return None
        self.outcome.gets += 1
        return units

    def write_units(self, group: MdtBatch, records: list[UnitRecord]) -> WriteResult:
        """PUT these records, splitting on 400 (to isolate refused units) and on 413."""
        uncertain: list[bool] = []
        try:
            answer = self._attempt(
                group,
                lambda: self.deps.writer.upsert_units(group.mdt_id, group.guild_id, records, group.actor),
                counts_as_put=True,
                uncertain=uncertain,
            )
        except (NorthcaInvalidRequestError, NorthcaPayloadTooLargeError) as exc:
            if len(records) == 1:
                if isinstance(exc, NorthcaPayloadTooLargeError):
                    self._stop_group(group, "a single unit is too large for the partner", exc)
                    return WriteResult(failed={records[0].unit_id})
                logger.error(
                    "partner refuses a unit; its messages go on to the DLQ",
                    extra={"mdt_id": group.mdt_id, "unit_id": records[0].unit_id, "error": exc.message},
                )
                return WriteResult(refused={records[0].unit_id: exc.message})
            middle = len(records) // 2
            result = self.write_units(group, records[:middle])
            result.extend(self.write_units(group, records[middle:]))
            return result
        except (NorthcaError, PartnerStoppedError):
            ids = {r.unit_id for r in records}
            return WriteResult(failed=ids, uncertain=ids if any(uncertain) else set())
        sent = {r.unit_id for r in records}
        confirmed = answer.confirmed & sent
        if confirmed != sent:
            # A 2xx that does not list a unit says nothing of it: it stays pending, its messages retry.
            self.outcome.unconfirmed += len(sent - confirmed)
            logger.warning(
                "partner answered 2xx without listing every unit sent: those are retried",
                extra={"mdt_id": group.mdt_id, "unconfirmed": len(sent - confirmed), "sent": len(sent)},
            )
        return WriteResult(
            written=set(confirmed), failed=sent - confirmed, uncertain=sent if any(uncertain) else set()
        )

    # ------------------------------------------------------------------ the policy

    def _stop(self, reason: str, delay: float | None = None) -> None:
        self.budget.stop(reason)
        if reason == "throttled":
            wanted = self.settings.throttle_delay_seconds if delay is None else math.ceil(delay)
            self.outcome.throttle_delay = min(wanted, self.settings.max_visibility_delay_seconds)

    def _stop_group(self, group: MdtBatch, reason: str, exc: NorthcaError) -> None:
        self.forbidden[(group.mdt_id, group.guild_id)] = f"{reason}: the partner answered {_said(exc)}"
        self.outcome.misconfigured += 1
        logger.error(
            "PARTNER ANSWER POINTS AT A CONFIGURATION PROBLEM: this MDT's units are given back",
            extra={"mdt_id": group.mdt_id, "reason": reason, "status": exc.status, "error": exc.message},
        )

    def _check_can_call(self, group: MdtBatch) -> None:
        if self.budget.stopped is not None:
            raise PartnerStoppedError(self.budget.stopped)
        if (group.mdt_id, group.guild_id) in self.forbidden:
            raise PartnerStoppedError("mdt not linked")
        if not self.budget.can_start():
            raise PartnerStoppedError(OUT_OF_TIME)

    def _attempt(
        self,
        group: MdtBatch,
        call: Callable[[], T],
        *,
        counts_as_put: bool = False,
        uncertain: list[bool] | None = None,
    ) -> T:
        """The call, retried by the policy; every failed attempt that may have been applied is noted
        in `uncertain`."""
        attempt = 0
        while True:
            self._check_can_call(group)
            attempt += 1
            if counts_as_put:
                self.outcome.puts += 1
            try:
                return call()
            except NorthcaError as exc:
                if uncertain is not None and exc.maybe_applied:
                    uncertain.append(True)
                wait = self._wait_before_retry(exc, group, attempt, counts_as_put)
            except Exception as exc:  # noqa: BLE001 - e.g. the secret could not be read: same as unavailable
                logger.exception("partner client failed", extra={"error": type(exc).__name__})
                self._stop("partner client error")
                raise NorthcaError(type(exc).__name__) from None
            self.deps.sleep(wait)

    def _wait_before_retry(self, exc: NorthcaError, group: MdtBatch, attempt: int, is_put: bool) -> float:
        """Seconds to wait before the next attempt; raises `exc` when there is to be none."""
        if isinstance(exc, NorthcaThrottledError):
            wait = exc.retry_after
            if (
                wait is not None
                and wait <= self.settings.max_inline_wait_seconds
                and attempt < self.settings.attempts
                and self.budget.can_wait(wait)
            ):
                return wait
            if isinstance(exc, NorthcaPacedError):
                # Nothing was sent: the partner's shared rate has no slot within this invocation's time.
                logger.info("partner calls paced past this invocation", extra={"retry_after": wait})
            else:
                logger.warning("partner throttles", extra={"status": exc.status, "retry_after": wait})
            self._stop("throttled", wait)
            raise exc
        if isinstance(exc, NorthcaAuthError):
            # The writer already fetched the key again: the key itself is wrong.
            logger.error("PARTNER KEY REFUSED after a fresh fetch", extra={"error": exc.message})
            self.outcome.misconfigured += 1  # the operator's to fix: counted, and alarmed on
            self._stop("partner key refused")
            raise exc
        if isinstance(exc, NorthcaForbiddenError):
            logger.error(
                "PARTNER REFUSES THIS MDT/GUILD after a fresh key fetch",
                extra={"mdt_id": group.mdt_id, "guild_id": group.guild_id, "error": exc.message},
            )
            self.forbidden[(group.mdt_id, group.guild_id)] = (
                f"the partner refuses MDT {group.mdt_id} for guild {group.guild_id} ({_said(exc)}): link the "
                "MDT to that guild in Northca, or correct guild_id in relay.toml"
            )
            self.outcome.misconfigured += 1
            raise exc
        if isinstance(exc, NorthcaInvalidRequestError | NorthcaPayloadTooLargeError):
            raise exc  # the caller splits the request
        if isinstance(exc, NorthcaNotFoundError) and not is_put:
            raise exc  # the list endpoint is missing: the caller degrades
        if isinstance(exc, NorthcaUnreadableListError):
            # Read again at once, the same answer would say nothing new: the messages come back later.
            self.outcome.unreadable_lists += 1
            self.outcome.misconfigured += 1
            logger.error(  # alarmed (template.yaml: PartnerRefusesSetupFilter)
                "PARTNER'S LIST OF UNITS CANNOT BE READ: this MDT's units are given back",
                extra={"mdt_id": group.mdt_id, "guild_id": group.guild_id, "error": exc.message},
            )
            raise exc
        if isinstance(exc, NorthcaNotFoundError | NorthcaUnexpectedStatusError):
            self._stop_group(group, "an answer the contract does not give for a bad unit", exc)
            raise exc
        return self._backoff(exc, attempt)

    def _backoff(self, exc: NorthcaError, attempt: int) -> float:
        backoff = min(self.settings.max_backoff_seconds, self.settings.backoff_seconds * 2.0 ** (attempt - 1))
        logger.warning(
            "partner call failed", extra={"status": exc.status, "error": exc.message, "attempt": attempt}
        )
        if attempt >= self.settings.attempts:
            self._stop("partner unavailable")
            raise exc
        if not self.budget.can_wait(backoff):
            self._stop(OUT_OF_TIME)
            raise exc
        return backoff
