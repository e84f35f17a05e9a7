"""The dry runs' and the commands' lines: what each unit would become, what each record became."""

from __future__ import annotations

from collections.abc import Iterable

from relay.consumer.preview import PreviewRow
from relay_devtools.options import printable
from relay_devtools.recovery.replay import Replay


def preview_lines(rows: Iterable[PreviewRow]) -> list[str]:
    """One line per unit: what the consumer would do now, each field it would change (old -> new), and
    why a field it was given stays (another writer's newer value, an owner, duty, an older change)."""
    lines = []
    for row in rows:
        changed = ", ".join(f"{n}: {old!r} -> {new!r}" for n, (old, new) in sorted(row.changes.items()))
        kept = sorted(
            f"{name} {outcome}"
            for name, outcome in row.fields.items()
            if outcome in ("superseded", "owned", "held", "kept")
        )
        line = f"  {row.unit_id}  {row.action}" + (f"  {changed}" if changed else "")
        if kept:
            line += f"  (stays: {', '.join(kept)})"
        lines.append(printable(line))
    return lines


def summary(rows: list[PreviewRow]) -> str:
    counts = {
        action: sum(1 for r in rows if r.action == action) for action in ("create", "write", "no change")
    }
    return f"{counts['create']} to create, {counts['write']} to write, {counts['no change']} unchanged"


def replay_lines(replay: Replay) -> list[str]:
    lines = []
    for record, why in replay.still_refused:
        lines.append(
            printable(f"  {record.received_at.isoformat()}  {record.lookup_id}  still refused: {why}")
        )
    for record, why in replay.unreadable:
        lines.append(printable(f"  {record.received_at.isoformat()}  {record.lookup_id}  not read: {why}"))
    if replay.calls_left_out or replay.panics_left_out:
        lines.append(
            f"  left out: {replay.calls_left_out} calls, {replay.panics_left_out} panics "
            "(an event of its moment is never sent again; only unit changes are replayed)"
        )
    return lines
