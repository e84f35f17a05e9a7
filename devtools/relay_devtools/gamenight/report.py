"""The evening's report: one JSON document (`--json`) and its text, and two reports side by side."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from relay_devtools.gamenight import rules
from relay_devtools.gamenight.measure import PATHS, Findings, percentile
from relay_devtools.gamenight.records import CadEvent, Edit, GameChange, Outage, PartnerFault, Record, Typed

FAILURES = ("field_differences", "dropped_commands", "mass_resets", "reverted_edits", "duplicate_units")
DETAILS_SHOWN = 12


def sent_counts(records: list[Record]) -> dict[str, Any]:
    """What the evening sent and did, counted from the records."""
    games = [r for r in records if isinstance(r, GameChange)]
    typed = [r for r in records if isinstance(r, Typed)]
    cad = Counter(r.kind for r in records if isinstance(r, CadEvent))
    edits = [r for r in records if isinstance(r, Edit)]
    seen: set[str] = set()
    joins = rejoins = 0
    for change in games:
        if change.kind == "join":
            rejoins += change.user_id in seen
            joins += change.user_id not in seen
            seen.add(change.user_id)
    sends = [(t, d) for t in typed for d in t.sends]
    return {
        "players": len(seen),
        "joins": joins,
        "rejoins": rejoins,
        "leaves": sum(c.kind == "leave" for c in games),
        "team_changes": sum(c.kind == "team" for c in games),
        "callsign_changes": sum(c.kind == "callsign" for c in games),
        "commands": len(typed),
        "status_commands": sum(rules.read_command(t.text) is not None for t in typed),
        "deliveries": len(sends),
        "duplicates": sum(d.kind != "first" for _, d in sends),
        "late": sum(d.kind == "first" and d.at - t.at > 3 for t, d in sends),
        "out_of_order": _out_of_order(typed),
        "cad_logins": cad["login"],
        "cad_status": cad["status"],
        "cad_logouts": cad["logout"],
        "edits": len(edits),
        "edits_applied": sum(bool(e.applied) for e in edits),
        "partner_faults": [_fault_text(f.spec) for f in records if isinstance(f, PartnerFault)],
        "erlc_outages": [f"{o.kind}: {o.how}" for o in records if isinstance(o, Outage)],
    }


def _out_of_order(typed: list[Typed]) -> int:
    """First deliveries sent after the first delivery of a command the same player typed later."""
    count = 0
    by_player: dict[str, list[Typed]] = {}
    for t in typed:
        by_player.setdefault(t.user_id, []).append(t)
    for commands in by_player.values():
        firsts = [(t.at, min((d.at for d in t.sends), default=t.at)) for t in commands]
        count += sum(any(at2 > at and sent2 < sent for at2, sent2 in firsts) for at, sent in firsts)
    return count


def _fault_text(spec: dict[str, Any]) -> str:
    kind = spec.get("kind")
    status = f" {spec['status']}" if spec.get("status") else ""
    extra = f" retry-after {spec['retry_after']}" if spec.get("retry_after") else ""
    extra += f" {spec['seconds']:g} s" if spec.get("seconds") else ""
    return f"{kind}{status}{extra} x{spec.get('count', 1)}"


def answers(records: list[Record]) -> dict[str, int]:
    statuses = [d.status or 0 for r in records if isinstance(r, Typed) for d in r.sends]
    statuses += [r.status or 0 for r in records if isinstance(r, CadEvent)]
    classes = Counter("none" if s == 0 else f"{s // 100}xx" for s in statuses)
    return {name: classes.get(name, 0) for name in ("2xx", "4xx", "5xx", "none")}


def latency_row(values: list[float], target: float) -> dict[str, Any]:
    p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
    return {
        "n": len(values),
        "p50": None if math.isnan(p50) else round(p50, 2),
        "p95": None if math.isnan(p95) else round(p95, 2),
        "max": round(max(values), 2) if values else None,
        "target_p95": target,
    }


def build(findings: Findings, records: list[Record], evening: dict[str, Any], start: float) -> dict[str, Any]:
    """The JSON report; times in details are seconds from the evening's start."""
    poll = float(evening["poll_seconds"])
    targets = {"command": 10.0, "join": poll + 10.0, "cad": 10.0}

    def rel(at: float) -> float:
        return round(at - start, 1)

    return {
        "evening": evening,
        "sent": sent_counts(records),
        "relay_answers": answers(records),
        "failures": {
            "field_differences": len(findings.differences),
            "dropped_commands": len(findings.dropped),
            "mass_resets": len(findings.mass_resets),
            "reverted_edits": len(findings.reverted),
            "duplicate_units": len(findings.duplicates),
        },
        "also": {"units_wrongly_off_duty": len(findings.wrongly_off), "not_shown": findings.unshown},
        "latency": {path: latency_row(findings.latencies.get(path, []), targets[path]) for path in PATHS},
        "details": {
            "differences": [
                {"unit": d.unit, "field": d.field, "model": d.expected, "mdt": d.shown}
                for d in findings.differences
            ],
            "dropped": [
                {"unit": d.unit, "command": d.label, "sent": rel(d.sent_at), "status": d.status}
                for d in findings.dropped
            ],
            "mass_resets": [
                {"at": rel(burst[0].at), "units": sorted({o.unit for o in burst})}
                for burst in findings.mass_resets
            ],
            "wrongly_off": [{"at": rel(o.at), "unit": o.unit} for o in findings.wrongly_off],
            "reverted": [
                {
                    "unit": r.unit,
                    "field": r.field,
                    "edit": r.value,
                    "edited": rel(r.edited_at),
                    "reverted": rel(r.reverted_at),
                    "to": r.reverted_to,
                }
                for r in findings.reverted
            ],
            "duplicates": findings.duplicates,
        },
    }


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def render(report: dict[str, Any]) -> str:
    e, s, f = report["evening"], report["sent"], report["failures"]
    lines = [
        f"Game night: {e['relay']} (seed {e['seed']}, roster poll {e['poll_seconds']:g} s, "
        f"{e['duration']:g} s evening, settled: {e['settled']})",
        f"Sent: {s['players']} players ({s['joins']} joins, {s['rejoins']} rejoins, {s['leaves']} leaves, "
        f"{s['team_changes']} team and {s['callsign_changes']} callsign changes); {s['commands']} commands "
        f"({s['status_commands']} status) in {s['deliveries']} deliveries ({s['duplicates']} duplicates, "
        f"{s['late']} late, {s['out_of_order']} out of order); CAD {s['cad_logins']} logins, "
        f"{s['cad_status']} status, {s['cad_logouts']} logouts; {s['edits_applied']}/{s['edits']} edits",
        f"Faults: partner {', '.join(s['partner_faults']) or 'none'}; "
        f"ER:LC {'; '.join(s['erlc_outages']) or 'none'}",
        f"Relay answers: {', '.join(f'{k} {v}' for k, v in report['relay_answers'].items())}; "
        f"DLQ {e.get('dlq', '-')}",
        "",
        "Failures (target 0)",
        *(f"  {name.replace('_', ' '):28} {f[name]}" for name in FAILURES),
        f"  ({report['also']['units_wrongly_off_duty']} units wrongly sent off duty)",
        "",
        "Latency             p50       p95       max      n    target p95",
    ]
    for path, row in report["latency"].items():
        verdict = "-" if row["p95"] is None else "ok" if row["p95"] <= row["target_p95"] else "MISSED"
        lines.append(
            f"  {path + ' -> MDT':16} {_seconds(row['p50']):>9} {_seconds(row['p95']):>9} "
            f"{_seconds(row['max']):>9} {row['n']:>6}    <= {row['target_p95']:g} s {verdict}"
        )
    lines += _details(report["details"])
    return "\n".join(lines)


def _details(details: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for name, rows in details.items():
        items = list(rows.items()) if isinstance(rows, dict) else rows
        if not items:
            continue
        lines += ["", f"{name.replace('_', ' ')} ({len(items)}):"]
        lines += [f"  {item}" for item in items[:DETAILS_SHOWN]]
        if len(items) > DETAILS_SHOWN:
            lines.append(f"  ... {len(items) - DETAILS_SHOWN} more (--json has them all)")
    return lines


def compare(before: dict[str, Any], after: dict[str, Any]) -> str:
    """Two reports side by side: each failure count and each latency."""
    label, column = 28, 26

    def row(name: str, b: object, a: object) -> str:
        return f"{name:{label}} {str(b)[-column:]:>{column}} {str(a)[-column:]:>{column}}"

    lines = [row("", "before", "after"), row("relay", before["evening"]["relay"], after["evening"]["relay"])]
    lines += [
        row(name.replace("_", " "), before["failures"][name], after["failures"][name]) for name in FAILURES
    ]
    lines.append(
        row(
            "units wrongly off duty",
            before["also"]["units_wrongly_off_duty"],
            after["also"]["units_wrongly_off_duty"],
        )
    )
    for path in PATHS:
        for key in ("p50", "p95"):
            b, a = before["latency"][path][key], after["latency"][path][key]
            lines.append(row(f"{path} -> MDT {key}", _seconds(b), _seconds(a)))
    for key in ("5xx", "none"):
        lines.append(row(f"relay answers {key}", before["relay_answers"][key], after["relay_answers"][key]))
    lines.append(row("DLQ", before["evening"].get("dlq", "-"), after["evening"].get("dlq", "-")))
    return "\n".join(lines)
