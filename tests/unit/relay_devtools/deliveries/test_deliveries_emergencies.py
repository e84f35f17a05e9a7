"""The delivery trail shows calls and panics (issue 18, item 5): each with its outcome and why, from the
ingress's answer line and the consumer's "emergency outcomes" lines, in `relay deliveries`' text too."""

from __future__ import annotations

from typing import Any

from relay_devtools.deliveries.trail import build_deliveries, render_lines

MDT = "0c7f6a0c-2c4f-4f44-b16a-2b6b8d8fe2c2"


def line(second: float, message: str, request: str, level: str = "INFO", **keys: Any) -> dict[str, Any]:
    stamp = f"2026-11-28 12:00:{int(second):02d},000+0000"
    return {"level": level, "message": message, "timestamp": stamp, "function_request_id": request, **keys}


def accepted(
    second: float, webhook: str, calls: tuple[str, ...] = (), panics: tuple[str, ...] = ()
) -> dict[str, Any]:
    return line(
        second,
        "webhook accepted",
        f"in-{second}",
        source="sonoran",
        webhook_id=webhook,
        status=202,
        changes=0,
        messages=len(calls) + len(panics),
        units=[],
        calls=list(calls),
        panics=list(panics),
    )


def emergency(second: float, webhook: str, kind: str, key: str, outcome: str, **row: Any) -> dict[str, Any]:
    data = {"kind": kind, "mdt_id": MDT, "source": "sonoran", "key": key, "target": key, "outcome": outcome,
            "detail": "", "written": {}, "webhook_ids": [webhook]} | row  # fmt: skip
    return line(second, "emergency outcomes", f"consumer-{second}", emergencies=[data])


def test_a_panic_queued_then_sent_shows_where_it_went() -> None:
    records = [
        accepted(1, "wh-1", panics=("A-10",)),
        emergency(2, "wh-1", "panic", "A-10", "sent", written={"unit": "A-10", "address": "Pier"}),
    ]
    [delivery] = build_deliveries(records)
    assert delivery.outcome == "written"
    assert delivery.why == "panic A-10: written (panic sent for A-10)"


def test_a_call_created_then_a_copy_skipped_and_a_refusal_say_why() -> None:
    records = [
        accepted(1, "wh-1", calls=("1234",)),
        emergency(2, "wh-1", "call", "1234", "created", target="sonoran.1234"),
        accepted(3, "wh-2", calls=("1234",)),
        emergency(4, "wh-2", "call", "1234", "unchanged", detail="the call already holds these changes"),
        accepted(5, "wh-3", calls=("99",)),
        emergency(6, "wh-3", "call", "99", "dead-lettered", detail="partner refused the call: too long"),
    ]
    refused, copy, created = build_deliveries(records)
    assert (created.outcome, created.why) == (
        "written",
        "call 1234: written (created Northca call sonoran.1234)",
    )
    assert copy.outcome == "skipped" and "the call already holds these changes" in copy.why
    assert refused.outcome == "dead-lettered" and "too long" in refused.why


def test_a_panic_retried_reads_retrying_until_it_lands() -> None:
    records = [
        accepted(1, "wh-1", panics=("A-10",)),
        emergency(2, "wh-1", "panic", "A-10", "given back", detail="partner: Bad Gateway"),
    ]
    [delivery] = build_deliveries(records)
    assert delivery.outcome == "retrying" and "Bad Gateway" in delivery.why
    records.append(emergency(5, "wh-1", "panic", "A-10", "sent", written={"unit": "A-10"}))
    [delivery] = build_deliveries(records)
    assert delivery.outcome == "written" and delivery.fates["panic A-10"].attempts == 2


def test_a_panic_nobody_could_name_is_not_a_silent_skip() -> None:
    records = [
        line(1, "EMERGENCY NOT DELIVERED", "in-1", level="ERROR", idents=["5"], detail="log in again"),
        accepted(1, "wh-1"),
    ]
    [delivery] = build_deliveries(records)
    assert delivery.outcome == "skipped" and "EMERGENCY NOT DELIVERED" in delivery.why
    assert render_lines([delivery])[1].strip().startswith("EMERGENCY NOT DELIVERED")
