"""The Northca Partner API client: urllib3, one pool, explicit timeouts, no redirects, no hidden retries.

Retries are the consumer's decision (it knows the invocation's remaining time), so this client makes
exactly one attempt per call and turns every outcome into a typed result or a typed error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

import urllib3
from urllib3.exceptions import HTTPError, NewConnectionError, ProtocolError, ReadTimeoutError
from urllib3.exceptions import TimeoutError as Urllib3TimeoutError

from relay import USER_AGENT
from relay.errors import (
    NorthcaAuthError,
    NorthcaConnectionError,
    NorthcaForbiddenError,
    NorthcaInvalidRequestError,
    NorthcaNotFoundError,
    NorthcaPayloadTooLargeError,
    NorthcaServerError,
    NorthcaThrottledError,
    NorthcaTimeoutError,
    NorthcaUnexpectedStatusError,
    NorthcaUnreachableError,
    NorthcaUnreadableListError,
)
from relay.httpclient import json_or_none, parse_retry_after
from relay.models import redact, utc_now
from relay.northca.wire import (
    confirmed_ids,
    create_call_body,
    panic_body,
    read_call,
    read_panic,
    read_unit_list,
    update_call_body,
    upsert_body,
)
from relay.ports.pacing import Pacing
from relay.ports.partner import (
    CallRecord,
    CallValue,
    NewCall,
    PanicAnswer,
    PartnerUnit,
    UnitRecord,
    UpsertAnswer,
)


class NorthcaClient:
    def __init__(
        self,
        base_url: str,
        partner_key: str,
        *,
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
        pool: urllib3.PoolManager | None = None,
        clock: Callable[[], datetime] = utc_now,
        pace: Pacing | None = None,
    ) -> None:
        self.clock = clock
        # Every request waits for its slot of the partner's shared rate first (relay.northca.pacing).
        self.pace = pace
        self.base_url = base_url.rstrip("/")
        self.partner_key = partner_key
        self.timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        # Retries and redirects are off at the pool: a redirect would carry the key to another host.
        self.pool = pool or urllib3.PoolManager(maxsize=4, retries=False, timeout=self.timeout)

    def _headers(self, guild_id: str, actor: str | None) -> dict[str, str]:
        headers = {
            "x-partner-key": self.partner_key,
            "x-discord-guild": guild_id,
            "accept": "application/json",
            "content-type": "application/json",
            "user-agent": USER_AGENT,
        }
        if actor:
            headers["x-discord-actor"] = actor
        return headers

    def _units_url(self, mdt_id: str) -> str:
        return f"{self.base_url}/mdts/{quote(mdt_id, safe='')}/units/active"

    def upsert_units(
        self, mdt_id: str, guild_id: str, units: Sequence[UnitRecord], actor: str | None = None
    ) -> UpsertAnswer:
        body = upsert_body(units)
        data = self._call("PUT", self._units_url(mdt_id), self._headers(guild_id, actor), body)
        return UpsertAnswer(confirmed_ids(data))

    def list_units(self, mdt_id: str, guild_id: str) -> dict[str, PartnerUnit]:
        """The MDT's active units by id. An answer the relay cannot fully read (no list, an entry it cannot
        interpret: relay.northca.wire.read_unit_list) is a failed call: read for "no units" or for an
        unset field, it would make units look new or blank, and a PUT would blank them at the partner."""
        return read_unit_list(self.list_records(mdt_id, guild_id))

    def list_records(self, mdt_id: str, guild_id: str) -> list[Any]:
        """The list answer's `data` as the partner sent it (the operator's tools print it whole)."""
        data = self._call("GET", self._units_url(mdt_id), self._headers(guild_id, None), None)
        if not isinstance(data, list):
            raise NorthcaUnreadableListError("the list answer cannot be read: data is not a list")
        return data

    # ------------------------------------------------------------------ calls and panics

    def _calls_url(self, mdt_id: str) -> str:
        return f"{self.base_url}/mdts/{quote(mdt_id, safe='')}/calls"

    def create_call(
        self, mdt_id: str, guild_id: str, call: NewCall, actor: str | None = None
    ) -> CallRecord | None:
        body = create_call_body(call)
        return read_call(self._call("POST", self._calls_url(mdt_id), self._headers(guild_id, actor), body))

    def update_call(
        self,
        mdt_id: str,
        guild_id: str,
        call_id: str,
        fields: Mapping[str, CallValue],
        actor: str | None = None,
    ) -> CallRecord | None:
        url = f"{self._calls_url(mdt_id)}/{quote(call_id, safe='')}"
        return read_call(self._call("PATCH", url, self._headers(guild_id, actor), update_call_body(fields)))

    def trigger_panic(
        self, mdt_id: str, guild_id: str, unit_id: str, address: str | None, actor: str | None = None
    ) -> PanicAnswer:
        url = f"{self._units_url(mdt_id)}/{quote(unit_id, safe='')}/panic"
        return read_panic(self._call("POST", url, self._headers(guild_id, actor), panic_body(address)))

    def _call(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> Any:
        if self.pace is not None:
            self.pace.before_call()  # raises NorthcaPacedError (nothing sent) when the slot is too far
        try:
            response = self.pool.request(
                method, url, body=body, headers=headers, timeout=self.timeout, retries=False, redirect=False
            )
        except NewConnectionError as exc:
            # Checked first: urllib3 makes it a ConnectTimeoutError subclass, yet nothing was sent.
            raise NorthcaUnreachableError(f"{method} could not connect: {type(exc).__name__}") from None
        except (ReadTimeoutError, Urllib3TimeoutError) as exc:
            raise NorthcaTimeoutError(f"{method} timed out: {type(exc).__name__}") from None
        except ProtocolError as exc:
            raise NorthcaConnectionError(f"{method} connection dropped: {type(exc).__name__}") from None
        except HTTPError as exc:
            raise NorthcaConnectionError(f"{method} failed: {type(exc).__name__}") from None
        return self._interpret(response)

    def _interpret(self, response: urllib3.BaseHTTPResponse) -> Any:
        status = response.status
        envelope = json_or_none(response.data)  # a deep answer is garbage too
        error = envelope.get("error") if isinstance(envelope, dict) else None
        # The partner may echo the key in its text (a 401 that quotes what it refused): never log it.
        message = redact(error, self.partner_key)[:500] if isinstance(error, str) else f"HTTP {status}"
        if 200 <= status < 300:
            if isinstance(envelope, dict) and envelope.get("ok") is True:
                return envelope.get("data")
            raise NorthcaServerError(f"HTTP {status} without the ok envelope", status)
        if status in (429, 503):
            retry_after = parse_retry_after(response.headers.get("retry-after"), self.clock())
            if self.pace is not None:
                self.pace.after_throttle(retry_after)  # every consumer holds back, not only this one
            raise NorthcaThrottledError(message, status, retry_after)
        if status == 401:
            raise NorthcaAuthError(message, status)
        if status == 403:
            raise NorthcaForbiddenError(message, status)
        if status == 400:
            raise NorthcaInvalidRequestError(message, status)
        if status in (404, 405):
            raise NorthcaNotFoundError(message, status)
        if status == 413:
            raise NorthcaPayloadTooLargeError(message, status)
        if 400 <= status < 500:
            raise NorthcaUnexpectedStatusError(message, status)
        if 300 <= status < 400:
            raise NorthcaServerError(f"unexpected redirect (HTTP {status}), not followed", status)
        raise NorthcaServerError(message, status)
