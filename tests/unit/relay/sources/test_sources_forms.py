"""Form presets: Typeform and Tally submissions, and Google Forms through the Apps Script."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from relay.errors import InvalidPayloadError
from relay.models import UnitChange
from relay.sources import AdapterContext
from relay.sources.registry import adapter_kind
from tests.support.constants import NOW
from tests.support.data import load_event

CONTEXT = AdapterContext(source="form", received_at=NOW)
SUBMITTED = datetime(2026, 11, 28, 11, 59, 50, tzinfo=UTC)
STATUS_WORDS = {"value_maps": {"status": {"Available": "10-8", "Busy": "10-6"}}}


def run(adapter: str, payload: Any, options: dict[str, Any] | None = None) -> list[UnitChange]:
    kind = adapter_kind(adapter)
    return kind.build(kind.options_model.model_validate(options or {})).normalise(payload, CONTEXT)


def refused(adapter: str, payload: Any, options: dict[str, Any] | None = None) -> str:
    with pytest.raises(InvalidPayloadError) as caught:
        run(adapter, payload, options)
    assert caught.value.status == 422
    return caught.value.message


# ---------------------------------------------------------------- Typeform


def test_typeform_answers_found_by_ref_or_title_become_the_unit() -> None:
    # Given a response whose Name question has a generated ref (found by its title instead)
    payload = load_event("typeform_response.json")
    # When it is normalised with the community's status words
    changes = run("typeform", payload, STATUS_WORDS)
    # Then every labelled answer is a field, a choice by its label, a number as text
    assert changes == [
        UnitChange(
            id="adam-12",
            at=SUBMITTED,
            fields={
                "officer_name": "B. Bubbleton",
                "officer_badge": "512",
                "department": "Patrol",
                "status": "10-8",
            },
        )
    ]


def test_typeform_labels_and_uppercase_ids_are_configurable() -> None:
    options = {"labels": {"officer_badge": "Badge number"}, "uppercase_id": True}
    change = run("typeform", load_event("typeform_response.json"), options)[0]
    assert (change.id, change.fields["officer_badge"]) == ("ADAM-12", "512")


def test_typeform_other_events_map_to_nothing() -> None:
    assert run("typeform", {"event_type": "form_partial_response", "form_response": {}}) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda p: p.pop("form_response"),
            "form_response: missing, expected Typeform's form_response object",
        ),
        (
            lambda p: p["form_response"].update(answers={}),
            "form_response.answers: expected a list of answers",
        ),
        (
            lambda p: p["form_response"]["answers"].pop(0),
            "form_response.answers: no answer to the unit id question 'Callsign' (matched by title or ref, "
            "or a hidden field or variable by key)",
        ),
        (
            lambda p: p["form_response"]["answers"].append("10-8"),
            "form_response.answers[5]: expected an answer with a field",
        ),
        (
            lambda p: p["form_response"]["answers"][4].update(type="matrix", matrix={"rows": []}),
            "form_response.answers[4]: a matrix answer this relay cannot read",
        ),
        (
            lambda p: p["form_response"].update(submitted_at="soon"),
            "form_response.submitted_at: 'soon' is not an ISO 8601 time",
        ),
    ],
)
def test_typeform_malformed_responses_get_a_precise_422(change: Any, message: str) -> None:
    payload = copy.deepcopy(load_event("typeform_response.json"))
    change(payload)
    assert refused("typeform", payload, STATUS_WORDS) == message


def without_questions(*refs: str, **response: Any) -> dict[str, Any]:
    """The sample response without the answers to these questions, with these response keys added."""
    payload: dict[str, Any] = copy.deepcopy(load_event("typeform_response.json"))
    answers = payload["form_response"]["answers"]
    payload["form_response"]["answers"] = [a for a in answers if a["field"]["ref"] not in refs]
    payload["form_response"].update(response)
    return payload


def test_typeform_a_callsign_passed_in_the_form_link_is_the_unit_id() -> None:
    # Given a form opened as ...#callsign=adam-12: the callsign is a hidden field, not a question
    # (https://www.typeform.com/developers/webhooks/example-payload/: form_response.hidden)
    payload = without_questions("callsign", hidden={"callsign": "adam-12", "utm_source": "discord"})
    # Then it names the unit, as an answer would (a 422 "no answer to the unit id question" before)
    [change] = run("typeform", payload, STATUS_WORDS)
    assert (change.id, change.fields["status"]) == ("adam-12", "10-8")


def test_typeform_variables_are_read_by_key_like_answers() -> None:
    # Given the status and badge set by the form's logic as variables (form_response.variables)
    variables = [
        {"key": "status", "type": "text", "text": "Busy"},
        {"key": "badge", "type": "number", "number": 4},
        {"key": "score", "type": "number", "number": 9},
    ]
    payload = without_questions("status", "badge", variables=variables)
    change = run("typeform", payload, {**STATUS_WORDS, "labels": {"officer_badge": "badge"}})[0]
    assert (change.fields["status"], change.fields["officer_badge"]) == ("10-6", "4")


def test_typeform_an_answer_wins_over_a_hidden_field_which_wins_over_a_variable() -> None:
    payload = without_questions(
        "status",
        hidden={"callsign": "hidden-1", "status": "Busy"},
        variables=[
            {"key": "status", "type": "text", "text": "Available"},
            {"key": "name", "type": "text", "text": "V"},
        ],
    )
    change = run("typeform", payload, STATUS_WORDS)[0]
    assert (change.id, change.fields["status"], change.fields["officer_name"]) == (
        "adam-12",
        "10-6",
        "B. Bubbleton",
    )


@pytest.mark.parametrize(
    ("response", "message"),
    [
        ({"hidden": ["callsign"]}, "form_response.hidden: expected an object of hidden fields"),
        ({"variables": {"key": "status"}}, "form_response.variables: expected a list of variables"),
        ({"variables": ["status"]}, "form_response.variables[0]: expected a variable with a key"),
        (
            {"hidden": {"callsign": ["a"]}},
            "form_response.hidden.callsign: expected text or a number, got a list",
        ),
    ],
)
def test_typeform_malformed_hidden_fields_and_variables_get_a_precise_422(
    response: dict[str, Any], message: str
) -> None:
    assert refused("typeform", without_questions("callsign", **response)) == message


# ---------------------------------------------------------------- Tally


def test_tally_fields_by_label_with_choice_ids_read_back_as_text() -> None:
    changes = run("tally", load_event("tally_response.json"))
    assert changes == [
        UnitChange(
            id="ADAM-12",
            at=SUBMITTED,
            fields={
                "officer_name": "B. Bubbleton",
                "officer_badge": "512",
                "department": "Patrol",
                "status": "10-8",
            },
        )
    ]


def test_tally_fields_can_be_found_by_key() -> None:
    change = run(
        "tally", load_event("tally_response.json"), {"labels": {"id": "question_mVZl5z", "rank": "x"}}
    )[0]
    assert change.id == "ADAM-12"
    assert "rank" not in change.fields


def test_tally_other_event_types_map_to_nothing() -> None:
    assert run("tally", {"eventType": "FORM_PARTIAL", "data": {}}) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.pop("data"), "data.fields: missing, expected Tally's list of answered fields"),
        (
            lambda p: p["data"].update(fields="Callsign=ADAM-12"),
            "data.fields: missing, expected Tally's list",
        ),
        (lambda p: p["data"]["fields"].insert(0, 7), "data.fields[0]: expected an object"),
        (
            lambda p: p["data"]["fields"][0].update(value=None),
            "data.fields: no answer to the unit id question 'Callsign' (matched by title or ref)",
        ),
        (
            lambda p: p["data"]["fields"][4].update(value=[{"id": "x"}]),
            "data.fields[4]: a MULTIPLE_CHOICE answer this relay cannot read",
        ),
    ],
)
def test_tally_malformed_responses_get_a_precise_422(change: Any, message: str) -> None:
    payload = copy.deepcopy(load_event("tally_response.json"))
    change(payload)
    assert refused("tally", payload).startswith(message)


# ---------------------------------------------------------------- Google Forms (Apps Script)


def test_google_forms_answers_by_question_title() -> None:
    assert run("google-forms", load_event("google_forms_submission.json")) == [
        UnitChange(
            id="ADAM-12",
            at=SUBMITTED,
            fields={
                "officer_name": "B. Bubbleton",
                "officer_badge": "512",
                "department": "Patrol",
                "rank": "PO",
                "status": "10-8",
            },
        )
    ]


def test_google_forms_constants_fill_what_the_form_does_not_ask() -> None:
    payload = {"answers": [{"title": "Callsign", "response": "L-3"}], "submitted_at": "2026-11-28T11:59:50Z"}
    assert run("google-forms", payload, {"constants": {"department": "Traffic"}}) == [
        UnitChange(id="L-3", at=SUBMITTED, fields={"department": "Traffic"})
    ]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"responses": {}}, "answers: expected a list of {title, response} objects"),
        ({"answers": ["ADAM-12"]}, "answers: expected a list of {title, response} objects"),
        (
            {"answers": [{"title": "Name", "response": "B"}]},
            "answers: no answer to the unit id question 'Callsign' (matched by title)",
        ),
        (
            {"answers": [{"title": " callsign ", "response": ""}, {"title": "Callsign", "response": "A"}]},
            "answers: no answer to the unit id question 'Callsign' (matched by title)",
        ),
        (
            {"answers": [{"title": "Callsign", "response": ["A", "B"]}]},
            "units[0].id: expected text or a number, got a list",
        ),
    ],
)
def test_google_forms_malformed_submissions_get_a_precise_422(payload: Any, message: str) -> None:
    assert refused("google-forms", payload) == message


def test_google_forms_a_missing_id_answer_names_the_title_looked_for() -> None:
    # Given a form whose id question is configured as "Your callsign", and a submission without it
    payload = load_event("google_forms_submission.json")
    # Then the 422 names that title, as Typeform's does
    assert refused("google-forms", payload, {"labels": {"id": "Your callsign"}}) == (
        "answers: no answer to the unit id question 'Your callsign' (matched by title)"
    )
