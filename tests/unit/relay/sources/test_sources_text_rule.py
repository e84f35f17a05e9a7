"""One rule for the characters of a sender's text, ids and values alike (issue 20, item 2): no control
(NUL, ESC, a newline), surrogate or unassigned (U+FFFF) character, and no bidi control (which reorders
what a dispatcher reads). An id also refuses every other format character (invisible, two ids would look
the same); a value keeps those (the joiner of an emoji, a soft hyphen). Field values used to accept NUL
and U+FFFF while ids refused them."""

from __future__ import annotations

from typing import Any

import pytest

from relay.errors import InvalidPayloadError
from relay.models import usable_unit_id, usable_value
from relay.sources import AdapterContext
from relay.sources.registry import adapter_kind, normalise
from tests.support.adapters import SAMPLES, with_value
from tests.support.constants import NOW

# Where each path that turns a sender's value into a unit change reads a status: the `units` adapter's
# own model, and the shared field rules every other adapter finishes its units with (mapping's here).
STATUS_AT = {"units": ("units", 0, "status"), "mapping": ("data", "units", 0, "status")}
STATUS_WHERE = {"units": "units.0.status", "mapping": "units[0].status"}

REFUSED_VALUES = {
    "nul": ("10\x008", "holds control character U+0000 at position 2"),
    "escape": ("\x1b[2J10-8", "holds control character U+001B at position 0"),
    "newline": ("10-8\nOn scene", "holds control character U+000A at position 4"),
    "noncharacter": ("10-8\uffff", "holds unassigned character U+FFFF at position 4"),
    "bidi-override": ("\u202e8-01", "holds bidi control character U+202E at position 0"),
    "bidi-isolate": ("10-8\u2066x\u2069", "holds bidi control character U+2066 at position 4"),
    # Found by the outside-tester pass: Unicode's own line breaks, which ids and values let through
    "line-separator": ("10-8\u2028On scene", "holds line separator character U+2028 at position 4"),
    "paragraph-separator": ("A\u2029B", "holds paragraph separator character U+2029 at position 1"),
}
# (A lone surrogate never reaches an adapter: the ingress refuses the body first, docs/security.md.)
RULE_ONLY = {"surrogate": ("10-8\ud800", "holds surrogate character U+D800 at position 4")}
KEPT_VALUES = ["Zoë 👩‍🚒", "co\u00adop", "🏴󠁧󠁢󠁳󠁣󠁴󠁿 Patrol", "Ramírez", "10-8 (en route)", ""]


def normalised(adapter: str, body: dict[str, Any]) -> list[Any]:
    sample = SAMPLES[adapter]
    kind = adapter_kind(adapter)
    built = kind.build(kind.options_model.model_validate(sample.options))
    return normalise(built, body, AdapterContext(source=adapter, received_at=NOW))


@pytest.mark.parametrize(("value", "reason"), REFUSED_VALUES.values(), ids=REFUSED_VALUES.keys())
@pytest.mark.parametrize("adapter", sorted(STATUS_AT))
def test_a_value_with_a_character_no_dispatcher_can_read_is_a_422_naming_where(
    adapter: str, value: str, reason: str
) -> None:
    body = with_value(SAMPLES[adapter].body(), STATUS_AT[adapter], value)
    with pytest.raises(InvalidPayloadError) as caught:
        normalised(adapter, body)
    assert caught.value.status == 422
    assert caught.value.message.startswith(f"{STATUS_WHERE[adapter]}: ")
    assert caught.value.message.endswith(reason)


@pytest.mark.parametrize("value", KEPT_VALUES)
@pytest.mark.parametrize("adapter", sorted(STATUS_AT))
def test_a_value_with_emoji_joiners_accents_or_soft_hyphens_is_kept_as_it_is(
    adapter: str, value: str
) -> None:
    body = with_value(SAMPLES[adapter].body(), STATUS_AT[adapter], value)
    [first, *_] = normalised(adapter, body)
    assert first.fields["status"] == value


@pytest.mark.parametrize(
    ("value", "reason"), [*REFUSED_VALUES.values(), *RULE_ONLY.values()], ids=[*REFUSED_VALUES, *RULE_ONLY]
)
def test_ids_and_values_refuse_the_same_characters_for_the_same_reason(value: str, reason: str) -> None:
    # One rule: what a value may not hold, an id may not hold either, for the same reason
    with pytest.raises(ValueError, match="^" + reason.replace("+", r"\+") + "$"):
        usable_value(value)
    with pytest.raises(ValueError) as caught:
        usable_unit_id("A" + value)
    assert str(caught.value).split(" at position ")[0] == reason.split(" at position ")[0]


def test_an_id_refuses_the_format_characters_a_value_keeps() -> None:
    assert usable_value("A\u200dB") == "A\u200dB"
    with pytest.raises(ValueError, match="format character U\\+200D"):
        usable_unit_id("A\u200dB")
