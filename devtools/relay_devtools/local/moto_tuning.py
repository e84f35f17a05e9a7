"""Two speed-ups of moto for `relay local`, each profiled with py-spy, neither changing what moto answers.

Routing: moto's server finds the backend of every request under one lock, by listing its package's
folders (`os.listdir` and an `isdir` per entry) and matching hundreds of URL patterns. The answer
depends on the host alone, so it is remembered per host: the listing and the lock's queue were a
large part of each AWS call's time during a burst.

SQS reads the clock cheaply:

moto's SQS asks every message whether it is visible and whether it is delayed on every SendMessage
(it builds the queue's attributes, counters included, to read one flag) and on every ReceiveMessage;
each answer computes "now" through naive-datetime arithmetic. During a burst the queue holds
thousands of messages and that arithmetic was most of relay local's time (profiled with py-spy).
`time.time()` gives the same milliseconds since the epoch; nothing else in moto changes.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import moto.sqs.models as sqs_models
from moto.core.utils import unix_time
from moto.moto_server.werkzeug_app import DomainDispatcherApplication


def _unix_time_millis(dt: datetime | None = None) -> float:
    return time.time() * 1000.0 if dt is None else unix_time(dt) * 1000.0


def speed_up_sqs() -> None:
    """Idempotent; affects this process's moto (relay local's embedded server) only."""
    sqs_models.unix_time_millis = _unix_time_millis  # type: ignore[attr-defined]


_BACKEND_FOR_HOST = DomainDispatcherApplication.get_backend_for_host


def _remembered_backend_for_host(self: DomainDispatcherApplication, host: str | None) -> Any:
    """moto's own answer for a host, computed once per host (moto calls this under its lock)."""
    cache: dict[str | None, Any] = self.__dict__.setdefault("_relay_backend_for_host", {})
    if host not in cache:
        cache[host] = _BACKEND_FOR_HOST(self, host)
    return cache[host]


def speed_up_routing() -> None:
    """Idempotent; affects this process's moto server (relay local's embedded one) only."""
    DomainDispatcherApplication.get_backend_for_host = _remembered_backend_for_host  # type: ignore[method-assign]
