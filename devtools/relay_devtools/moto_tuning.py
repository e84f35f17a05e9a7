"""One speed-up of moto for `relay local`: SQS reads the clock cheaply.

moto's SQS asks every message whether it is visible and whether it is delayed on every SendMessage
(it builds the queue's attributes, counters included, to read one flag) and on every ReceiveMessage;
each answer computes "now" through naive-datetime arithmetic. During a burst the queue holds
thousands of messages and that arithmetic was most of relay local's time (profiled with py-spy).
`time.time()` gives the same milliseconds since the epoch; nothing else in moto changes.
"""

from __future__ import annotations

import time
from datetime import datetime

import moto.sqs.models as sqs_models
from moto.core.utils import unix_time


def _unix_time_millis(dt: datetime | None = None) -> float:
    return time.time() * 1000.0 if dt is None else unix_time(dt) * 1000.0


def speed_up_sqs() -> None:
    """Idempotent; affects this process's moto (relay local's embedded server) only."""
    sqs_models.unix_time_millis = _unix_time_millis  # type: ignore[attr-defined]
