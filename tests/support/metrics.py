"""Every custom metric the code emits, by name: what an alarm or a dashboard may watch.

Read from the code itself, so a renamed metric fails the template tests instead of leaving an alarm
silent: names written out in the handlers, the metric of every error in relay.errors, the consumer's
BatchOutcome.counts() and the poller's RosterPoll<Result> for each PollResult.
"""

from __future__ import annotations

import re
from typing import get_args

from tests.support.constants import ROOT

HANDLERS = ROOT / "functions" / "relay" / "handlers"
# How relay/handlers/scheduled.py names a poll's metric; roster_poll_metrics() below does the same.
ROSTER_POLL_NAMING = '"RosterPoll" + outcome.result.title().replace("-", "")'


def handler_metric_literals() -> set[str]:
    """`add_metric(name="X", ...)` in the handlers."""
    text = "".join(p.read_text(encoding="utf-8") for p in sorted(HANDLERS.glob("*.py")))
    return set(re.findall(r'add_metric\(\s*name="(\w+)"', text))


def error_metrics() -> set[str]:
    """The metric of every RelayError (VerificationError names one per kind of refusal)."""
    from relay.errors import RejectionKind, RelayError, VerificationError

    def subclasses(cls: type[RelayError]) -> list[type[RelayError]]:
        return [cls, *(sub for child in cls.__subclasses__() for sub in subclasses(child))]

    names = {cls.metric_name for cls in subclasses(RelayError)}
    return names | {VerificationError(kind, "why").metric() for kind in get_args(RejectionKind)}


def consumer_metrics() -> set[str]:
    from relay.consumer.invocation import BatchOutcome

    return set(BatchOutcome().counts(received=0))


def roster_poll_metrics() -> set[str]:
    from relay.erlc.poller import PollResult

    text = (HANDLERS / "scheduled.py").read_text(encoding="utf-8")
    assert ROSTER_POLL_NAMING in text, "relay/handlers/scheduled.py names its metrics differently now"
    return {"RosterPoll" + result.title().replace("-", "") for result in get_args(PollResult)}


def emitted_metrics() -> set[str]:
    return handler_metric_literals() | error_metrics() | consumer_metrics() | roster_poll_metrics()
