"""relay local's functions side by side, as Lambda runs them.

Lambda gives each function its own execution environments: the ingress answers a webhook while the
consumer waits out a partner's timeout and the roster poll calls PRC. relay local runs the real handlers
in one process, where Powertools keeps the logger's keys (a webhook id, a source, the Lambda context)
and the metrics of an invocation in process-wide objects. Two invocations at once would put one's keys
on the other's lines (the deliveries feed and `relay sign --wait` read those keys) and flush one's metrics
with the other's. So:

- `isolate_powertools` gives each thread its own logger keys and its own metrics (the same objects the
  handlers imported, their state kept per thread), as each Lambda environment has its own;
- `FunctionLocks` lets one invocation of each function run at a time (one execution environment per
  function, as a function's module-level caches assume), different functions side by side, and
  `exclusive()` holds them all while the config or secrets are replaced between invocations.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from aws_lambda_powertools import Logger, Metrics

_STATE = "_relay_local_thread_state"


def _thread_state(owner: object) -> threading.local:
    state: threading.local = vars(owner)[_STATE]
    return state


class _PerThreadLogKeys:
    """A Powertools formatter whose keys (`log_format`: what append_keys, clear_state and
    inject_lambda_context change, and what each line carries) belong to the thread that sets them."""

    __slots__ = ()  # the instance keeps its class's layout (a __class__ swap needs it)

    log_record_order: list[str]
    keys_combined: dict[str, Any]

    @property
    def log_format(self) -> dict[str, Any]:
        state = _thread_state(self)
        keys: dict[str, Any] | None = getattr(state, "log_format", None)
        if keys is None:  # a new thread starts as a new environment: the logger's own keys only
            keys = dict.fromkeys(self.log_record_order)
            keys.update(**self.keys_combined)
            state.log_format = keys
        return keys

    @log_format.setter
    def log_format(self, keys: dict[str, Any]) -> None:
        _thread_state(self).log_format = keys


def _per_thread(name: str, default: Any) -> property:
    def get(self: Any) -> Any:
        state = _thread_state(self)
        if not hasattr(state, name):
            setattr(state, name, default(self))
        return getattr(state, name)

    def put(self: Any, value: Any) -> None:
        setattr(_thread_state(self), name, value)

    return property(get, put)


def _default_dimensions(provider: Any) -> dict[str, str]:
    return {k: v if isinstance(v, str) else str(v) for k, v in provider.default_dimensions.items()}


class _PerThreadMetrics:
    """A Powertools metrics provider whose metrics, dimensions and metadata belong to the thread that adds
    them: each invocation's flush (log_metrics) publishes its own."""

    __slots__ = ()

    metric_set = _per_thread("metric_set", lambda _: {})
    dimension_set = _per_thread("dimension_set", _default_dimensions)
    dimension_sets = _per_thread("dimension_sets", lambda _: [])
    metadata_set = _per_thread("metadata_set", lambda _: {})
    timestamp = _per_thread("timestamp", lambda _: None)


def _swap(target: object, mixin: type) -> None:
    if isinstance(target, mixin):
        return  # already isolated (relay local started twice in one process)
    cls = type(target)
    vars(target)[_STATE] = threading.local()
    target.__class__ = type(
        f"PerThread{cls.__name__}", (cls, mixin), {"__slots__": (), "_relay_local_base": cls}
    )


def _restore(target: object) -> None:
    base = getattr(type(target), "_relay_local_base", None)
    if base is None:
        return
    for name in ("log_format",):
        if name in vars(target):
            del vars(target)[name]  # the value from before; the thread's own is dropped
    target.__class__ = base
    vars(target).pop(_STATE, None)


def isolate_powertools(logger: Logger, metrics: Metrics) -> None:
    """From now on each thread has its own logger keys and its own metrics."""
    formatter = logger.registered_formatter
    keys = dict(formatter.log_format)  # type: ignore[attr-defined]
    _swap(formatter, _PerThreadLogKeys)
    formatter.log_format = keys  # type: ignore[attr-defined]  # the calling thread keeps its keys
    _swap(metrics.provider, _PerThreadMetrics)


def release_powertools(logger: Logger, metrics: Metrics) -> None:
    """Back to Powertools' own process-wide state (the calling thread's keys become everyone's)."""
    formatter = logger.registered_formatter
    if isinstance(formatter, _PerThreadLogKeys):
        keys = formatter.log_format
        _restore(formatter)
        formatter.log_format = keys
    provider = metrics.provider
    if isinstance(provider, _PerThreadMetrics):
        kept = {name: getattr(provider, name) for name in ("metric_set", "dimension_set", "metadata_set")}
        _restore(provider)
        for name, value in kept.items():
            getattr(provider, name).clear()
            getattr(provider, name).update(value)


# The functions relay local runs: the consumer's two event source mappings invoke one function.
FUNCTIONS = ("consumer", "ingress", "scheduled")


class FunctionLocks:
    """One invocation of each function at a time, different functions side by side."""

    def __init__(self, functions: tuple[str, ...] = FUNCTIONS) -> None:
        self._locks = {name: threading.Lock() for name in sorted(functions)}

    def invocation(self, function: str) -> threading.Lock:
        return self._locks[function]

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Every function between two invocations (in one order, so two callers never deadlock)."""
        with contextlib.ExitStack() as held:
            for lock in self._locks.values():
                held.enter_context(lock)
            yield
