"""Adapters turn an authentic payload into signals: the contract every sender's module keeps.

An adapter is pure: it gets the parsed body and an `AdapterContext` (receive time, headers, the
delivery's id, and the ports its kind needs: the source-state store, the ER:LC roster lookup), and
returns the `Signal`s the payload carries, or raises `InvalidPayloadError` saying what and where. It
never opens a socket or touches boto3. Its state writes are staged: the ingress commits them only once
the request's messages are queued. What else it has to say of the delivery goes in `context.notes`
(`DeliveryNotes`): a short label for the delivery trail, and changes another source said (the game's
roster, read on demand) or an earlier delivery brought (a held command), queued with the request's own.

A sender is one module that defines its `AdapterKind` (how to build it, and `SenderFacts`: its docs
page, sample bodies, how it signs, where it names a delivery) plus one line in relay.sources.registry,
which imports a kind's module only when a source uses it. relay.sources.fields holds the field rules the
adapters share. (ER:LC's event adapter lives with its roster, in relay.erlc.events.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel

from relay.errors import StateNotWiredError
from relay.models import CallChange, Panic, Undelivered, UnitChange
from relay.ports.erlc import RosterLookup
from relay.ports.stores import SourceStateStore

# A delivery's label, at most this long once its control characters are written out.
MAX_LABEL_LENGTH = 120


def printable_label(text: str, limit: int = MAX_LABEL_LENGTH) -> str:
    """`text` as one short line for a log and a page: control characters (and every other character
    that does not print) written out as escapes, cut to `limit` with an ellipsis."""
    shown = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


@dataclass(frozen=True)
class Destination:
    """Where changes go: an MDT in a guild, written in the name of `actor`."""

    mdt_id: str
    guild_id: str
    actor: str | None = None


@dataclass(frozen=True)
class Relayed:
    """Signals a delivery carries that are not its source's own news: what another source said (the
    game's roster, read by an on-demand lookup; a server's emergency call, which is the game's whichever
    path saw it), or what an earlier delivery of the source brought (a held command). Queued with the
    request's signals, all or none, as `source`'s (None: the request's), to `destination` (None: the
    request's source's), as delivery `webhook_id` received at `received_at` (None: the request's)."""

    changes: tuple[UnitChange, ...] = ()
    source: str | None = None
    destination: Destination | None = None
    webhook_id: str | None = None
    received_at: datetime | None = None
    calls: tuple[CallChange, ...] = ()
    panics: tuple[Panic, ...] = ()


class DeliveryNotes:
    """What an adapter tells the ingress of one delivery besides its signals. Made by the ingress for
    each request; the adapter writes, the ingress reads once the adapter is done."""

    def __init__(self) -> None:
        self.label: str | None = None
        self.relayed: list[Relayed] = []
        # Emergencies acknowledged that no unit could be found for: the ingress dead-letters each.
        self.undelivered: list[Undelivered] = []

    def name(self, text: str) -> None:
        """A short label for the delivery trail (`main: Lindqvist_30 ;10-6 -> 1A-07`), bounded."""
        self.label = printable_label(text)

    def relay(self, signals: Iterable[Signal], **where: Any) -> None:
        """Queue `signals` with the request's, as `Relayed(**where)` says."""
        changes, calls, panics = partition(list(signals))
        if changes or calls or panics:
            self.relayed.append(Relayed(tuple(changes), calls=tuple(calls), panics=tuple(panics), **where))

    def signals(self) -> list[Signal]:
        """Every relayed signal, in order (`relay map` shows them beside the request's own)."""
        found: list[Signal] = []
        for batch in self.relayed:
            found += [*batch.panics, *batch.calls, *batch.changes]
        return found


@dataclass(frozen=True)
class AdapterContext:
    source: str
    received_at: datetime
    headers: Mapping[str, str] = field(default_factory=dict)
    # The source-state store (rosters, caches), for the kinds that need it.
    state: SourceStateStore | None = None
    # The delivery's id, when the request has one (the ingress's webhook id).
    webhook_id: str | None = None
    # PRC's API asked now for a server's players (erlc-events: a command from a player the stored
    # roster does not know). None where nothing may call PRC (`relay map`, most tests).
    lookup: RosterLookup | None = None
    # What the adapter says of the delivery besides its changes (a label, relayed changes).
    notes: DeliveryNotes = field(default_factory=DeliveryNotes)

    def require_state(self, adapter: str) -> SourceStateStore:
        if self.state is None:
            raise StateNotWiredError(f"adapter {adapter!r} needs the source-state store, and none is wired")
        return self.state


# What a payload can say. Each kind of signal has its own path to the partner: a unit change goes to the
# webhook queue (merged per unit and field), a call event and a panic to the emergency queue
# (relay.messages.emergency_messages; docs/emergencies.md).
Signal = UnitChange | CallChange | Panic


def partition(signals: Sequence[Signal]) -> tuple[list[UnitChange], list[CallChange], list[Panic]]:
    """The unit changes, call events and panics of an adapter's output, each in its order."""
    changes = [s for s in signals if isinstance(s, UnitChange)]
    calls = [s for s in signals if isinstance(s, CallChange)]
    panics = [s for s in signals if isinstance(s, Panic)]
    return changes, calls, panics


class Adapter(Protocol):
    def normalise(self, payload: Any, context: AdapterContext) -> Sequence[Signal]: ...


@dataclass(frozen=True, kw_only=True)
class SenderFacts:
    """What the tools, the suites and the docs know of a sender, kept with its adapter: `relay sign` sends
    its first sample, `relay doctor` checks a source against its signature and delivery id, and the
    registry's tests map every sample with its example source and check the page exists."""

    # Its page, from the repository's root (docs/sources/<sender>.md).
    docs: str
    # Real-shaped bodies it sends, in events/, in the order they make sense (state carries over).
    samples: tuple[str, ...]
    # Its source's name in docs/sources/examples.toml, configured as the page shows it.
    example_source: str
    # How the sender signs: the scheme and the settings the sender fixes (header names lower-cased).
    signature: Mapping[str, str] = field(default_factory=dict)
    # Where the body names each delivery (the replay key when the scheme signs no timestamp), and
    # whether the docs require it (a sender that signs no timestamp and whose bodies all carry one).
    delivery_id_path: str | None = None
    delivery_id_required: bool = False
    # Rosters a sample needs, as `relay map --roster NAME=FILE` takes them (ER:LC's commands).
    sample_rosters: Mapping[str, str] = field(default_factory=dict)
    # How far its officer name, department, rank and badge are trusted over another sender's for the
    # same unit, unless relay.toml says otherwise (`[units.owners]`): a CAD 3, forms 2, other senders 1,
    # the game 0 (docs/consumer.md, "Several sources, one unit").
    profile_rank: int = 1
    # It reports the state it holds (a CAD's unit record, a roster) rather than events (a command, a
    # form submission): saying again what it said before is not a new change.
    reports_state: bool = False
    # Bodies of calls and panics it sends (events/), each with the examples.toml source that reads it,
    # mapped in order on one state (a panic after the login that names its unit).
    emergency_samples: tuple[tuple[str, str], ...] = ()
    # The sample `relay sign` sends to a source with these options, when it is not the first of
    # `samples` (a SnailyCAD source set for another raw webhook); None: the first.
    sample_for: Callable[[Mapping[str, Any]], str | None] | None = None


@dataclass(frozen=True, kw_only=True)
class AdapterKind:
    """A kind of adapter: its options model, how to build it from validated options, and its sender."""

    options_model: type[BaseModel]
    build: Callable[[Any], Adapter]
    # Content types the adapter reads; the ingress answers 415 to others.
    content_types: tuple[str, ...] = ("application/json",)
    # Reads or writes the source-state store (rosters, caches).
    needs_state: bool = False
    # An authentic body that is empty or not a JSON object is answered 2xx with no change, not 422
    # (PRC checks an ER:LC Event Webhook URL so: a receiver answers 2xx to any validly signed request).
    acknowledges_unreadable: bool = False
    sender: SenderFacts
