"""The partner's rules, as the contract (contracts/northca-partner-api.yaml) and the observed partner
give them: the `{ok, data}` / `{ok, error}` envelope, the verbatim error messages, what a valid upsert
body is, how records and times look."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, cast

UNIT_FIELDS: Final = ("id", "officer_name", "officer_badge", "department", "rank", "status")
WRITABLE_FIELDS: Final = UNIT_FIELDS[1:]

MSG_UNAUTHORIZED: Final = "Unauthorized"
MSG_NOT_LINKED: Final = "MDT not linked to this guild"
MSG_EXPECTED_UNITS: Final = "Expected { units: [...] }"
MSG_MISSING_ID: Final = "Each unit must include a non-empty id"
MSG_DUPLICATE_ID: Final = "Duplicate unit id in request body"
MSG_NOT_FOUND: Final = "Not found"
MSG_METHOD_NOT_ALLOWED: Final = "Method not allowed"


@dataclass(frozen=True)
class Reply:
    status: int
    payload: dict[str, Any]
    headers: tuple[tuple[str, str], ...] = ()


def ok(data: Any) -> Reply:
    return Reply(200, {"ok": True, "data": data})


def error(status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    return Reply(status, {"ok": False, "error": message}, headers)


def not_allowed(allowed: Sequence[str]) -> Reply:
    return error(405, MSG_METHOD_NOT_ALLOWED, (("Allow", ", ".join(allowed)),))


class InvalidBody(ValueError):
    """The upsert body breaks a rule; the message is the partner's verbatim 400 error."""


def is_json_media_type(content_type: str) -> bool:
    """`application/json` (any parameters, any case), or a `+json` type: what the contract's upsert takes."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def validate_upsert_body(raw: bytes, *, nulls: bool = True) -> list[dict[str, str | None]]:
    """The units of a valid upsert body; raises InvalidBody with the partner's message otherwise.

    `nulls=False` reads the contract as the OpenAPI 3.1 it declares itself to be: there `nullable`
    means nothing, so a field must be a string and a null is refused like any other wrong type.
    """
    try:
        body = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise InvalidBody(MSG_EXPECTED_UNITS) from None
    if not isinstance(body, dict) or set(body) != {"units"} or not isinstance(body["units"], list):
        raise InvalidBody(MSG_EXPECTED_UNITS)
    seen: set[str] = set()
    for unit in body["units"]:
        _check_unit(unit, seen, nulls)
    return cast(list[dict[str, str | None]], body["units"])


def _check_unit(unit: object, seen: set[str], nulls: bool) -> None:
    if not isinstance(unit, dict):
        raise InvalidBody(MSG_MISSING_ID)
    unit_id = unit.get("id")
    if not isinstance(unit_id, str) or not unit_id.strip():
        raise InvalidBody(MSG_MISSING_ID)
    if unit_id in seen:
        raise InvalidBody(MSG_DUPLICATE_ID)
    seen.add(unit_id)
    if not set(unit) <= set(UNIT_FIELDS):
        raise InvalidBody(MSG_EXPECTED_UNITS)
    if any(not isinstance(value, str) and not (nulls and value is None) for value in unit.values()):
        raise InvalidBody(MSG_EXPECTED_UNITS)


def request_unit_ids(raw: bytes) -> frozenset[str]:
    """The string unit ids in a body, however invalid the rest of it is (for fault matching)."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return frozenset()
    units = body.get("units") if isinstance(body, dict) else None
    if not isinstance(units, list):
        return frozenset()
    return frozenset(u["id"] for u in units if isinstance(u, dict) and isinstance(u.get("id"), str))


def mdt_code(mdt_id: str) -> str:
    """A short display code for an MDT: its first six letters and digits, upper-cased."""
    return re.sub(r"[^0-9A-Za-z]", "", mdt_id)[:6].upper()


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and Z, as the partner writes timestamps (naive = UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def request_call_id(raw: bytes) -> frozenset[str]:
    """The `id` of a create-call body, if it has a string one (for fault matching)."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return frozenset()
    call_id = body.get("id") if isinstance(body, dict) else None
    return frozenset({call_id}) if isinstance(call_id, str) else frozenset()


# --- what the request log keeps ---

REDACTED: Final = "***"
SECRET_HEADERS: Final = frozenset({"x-partner-key"})


def log_body(raw: bytes) -> Any:
    """A request's body as the log shows it: its JSON, else its text."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return raw.decode("utf-8", errors="replace")


def redacted_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A request's headers as the log shows them: the partner key written out."""
    return {name: REDACTED if name in SECRET_HEADERS else value for name, value in headers.items()}
