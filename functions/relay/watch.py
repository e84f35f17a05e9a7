"""Sources that go quiet: a source with `expect_every` that has sent nothing for that long, and an ER:LC
server whose roster poll has not succeeded for its `expect_every` (10 minutes by default).

The ingress notes when it last heard each watched source (`seen#<source>` in the state table), at most
once per container every quarter of `expect_every` (15 minutes at most), so a busy source costs a write
now and then, not one per webhook. The scheduled function (every minute, with the roster poll) reads
those notes, and for a server whose poll failed, the time of its last good poll (its stored roster);
what is quiet longer than allowed logs `SOURCE QUIET`, which the source-not-heard alarm counts (one
alarm metric with the refused ER:LC keys: template.yaml, ErlcKeyRefusedFilter).

A note is written only for authentic deliveries (a stranger's requests never keep a source "alive"),
and a source never heard since the watch began is dated by the first check that looked for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from relay.config.schema import ErlcServerConfig, SourceConfig
from relay.errors import SourceStateUnavailableError
from relay.models import seen_key
from relay.observability import logger
from relay.ports.stores import SourceStateStore

SEEN_SK = "last"
# A note lives long past any expect_every (at most 7 days): a quiet source keeps being reported.
SEEN_TTL_SECONDS = 35 * 86400
MAX_NOTE_SPACING_SECONDS = 900


def note_spacing(expect_every: int) -> int:
    """How stale a source's note may be while it sends: a quarter of expect_every, 15 minutes at most."""
    return min(expect_every // 4, MAX_NOTE_SPACING_SECONDS)


def note_heard(
    store: SourceStateStore | None,
    name: str,
    source: SourceConfig,
    now: datetime,
    written: dict[str, float],
) -> None:
    """Note that `name` was heard now (the ingress, after a delivery authenticated). `written`: this
    container's last note per source. Best effort: a note not written is logged, never in the way."""
    if store is None or source.expect_every is None:
        return
    last = written.get(name)
    if last is not None and now.timestamp() - last < note_spacing(source.expect_every):
        return
    try:
        store.put(seen_key(name), SEEN_SK, {"at": now.timestamp()}, ttl_seconds=SEEN_TTL_SECONDS)
    except SourceStateUnavailableError as exc:
        logger.warning("source heard, note not written", extra={"error": exc.message})
        return
    written[name] = now.timestamp()


def _heard_at(value: Any) -> float | None:
    at = value.get("at") if isinstance(value, dict) else None
    return float(at) if isinstance(at, int | float) and not isinstance(at, bool) else None


def quiet(name: str, since: float, allowed: int, now: datetime) -> None:
    """Log the line the alarm counts."""
    logger.error(
        "SOURCE QUIET: nothing heard for longer than expect_every",
        extra={
            "source": name,
            "quiet_seconds": int(now.timestamp() - since),
            "expect_every_seconds": allowed,
        },
    )


def check_sources(sources: Mapping[str, SourceConfig], store: SourceStateStore, now: datetime) -> list[str]:
    """The watched sources quiet longer than allowed (each logged); the scheduled function's check."""
    found = []
    for name, source in sorted(sources.items()):
        if source.expect_every is None:
            continue
        try:
            at = _heard_at(store.get(seen_key(name), SEEN_SK))
            if at is None:  # never heard since the watch began: the watch begins now
                store.put(seen_key(name), SEEN_SK, {"at": now.timestamp()}, ttl_seconds=SEEN_TTL_SECONDS)
                continue
        except SourceStateUnavailableError as exc:
            logger.warning("source watch unavailable", extra={"source": name, "error": exc.message})
            continue
        # The note may be this stale while the source sends: quiet is counted past that.
        if now.timestamp() - at > source.expect_every + note_spacing(source.expect_every):
            quiet(name, at, source.expect_every, now)
            found.append(name)
    return found


def check_server(name: str, server: ErlcServerConfig, polled_at: float | None, now: datetime) -> bool:
    """Whether a server whose poll just failed has had no good poll for longer than its expect_every
    (logged). A server never polled well is not dated: its refused key has its own alarm."""
    if server.expect_every is None or polled_at is None:
        return False
    if now.timestamp() - polled_at <= server.expect_every:
        return False
    quiet(f"erlc:{name}", polled_at, server.expect_every, now)
    return True
