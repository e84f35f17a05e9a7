"""Form submissions as units: Typeform and Tally (HMAC-signed), Google Forms through Apps Script.

A form answers one unit per submission. `labels` say which question holds which unit field, matched
case-insensitively against the question's title/label or its ref/key (for Typeform, also a hidden
field's or a variable's key: a callsign passed in the form's link); value maps, constants and
defaults apply as in the mapping adapter. The full Typeform and Tally payload field lists are
UNCONFIRMED: the code reads only the few fields named here and ignores the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relay.errors import InvalidPayloadError
from relay.models import UnitChange
from relay.sources import AdapterContext, AdapterKind, SenderFacts
from relay.sources.fields import PickKey, parse_event_time
from relay.sources.labelled import GoogleFormsOptions, LabelledOptions, build_google_forms
from relay.sources.mapping import MappingAdapter


def _norm(text: Any) -> str:
    return text.strip().lower() if isinstance(text, str) else ""


Answers = dict[str, tuple[Any, str]]  # question title or ref -> (its answer, where it is in the body)


def _pick(
    options: LabelledOptions, answers: Answers, where: str, matched: str = "by title or ref"
) -> tuple[dict[PickKey, Any], dict[PickKey, str]]:
    """The value answered to each labelled question, and where each is; the id question must have an
    answer."""
    found = {key: answers.get(_norm(label)) for key, label in options.labels.items() if label.strip()}
    picked = {key: answer[0] for key, answer in found.items() if answer is not None}
    if picked.get("id") in (None, ""):
        raise InvalidPayloadError(
            f"{where}: no answer to the unit id question {options.labels['id']!r} (matched {matched})"
        )
    return picked, {key: answer[1] for key, answer in found.items() if answer is not None}


class TypeformAdapter:
    """`{event_type: "form_response", form_response: {submitted_at, definition.fields, answers}}`."""

    def __init__(self, options: LabelledOptions) -> None:
        self.options = options

    def normalise(self, payload: Any, context: AdapterContext) -> list[UnitChange]:
        if payload.get("event_type", "form_response") != "form_response":
            return []
        response = payload.get("form_response")
        if not isinstance(response, dict):
            raise InvalidPayloadError("form_response: missing, expected Typeform's form_response object")
        answers = response.get("answers")
        if not isinstance(answers, list):
            raise InvalidPayloadError("form_response.answers: expected a list of answers")
        definition = response.get("definition")
        titles: dict[str, str] = {}
        if isinstance(definition, dict) and isinstance(definition.get("fields"), list):
            titles = {
                str(f.get("id")): _norm(f.get("title")) for f in definition["fields"] if isinstance(f, dict)
            }
        by_question: Answers = {}
        for index, answer in enumerate(answers):
            where = f"form_response.answers[{index}]"
            if not isinstance(answer, dict) or not isinstance(answer.get("field"), dict):
                raise InvalidPayloadError(f"{where}: expected an answer with a field")
            value = typeform_value(answer, where)
            field = answer["field"]
            for name in (titles.get(str(field.get("id")), ""), _norm(field.get("ref"))):
                if name:
                    by_question.setdefault(name, (value, where))
        # An answer wins over a hidden field of the same name, which wins over a variable.
        for name, found in typeform_hidden_and_variables(response):
            by_question.setdefault(name, found)
        matched = "by title or ref, or a hidden field or variable by key"
        picked, places = _pick(self.options, by_question, "form_response.answers", matched)
        at = parse_event_time(response.get("submitted_at"), "form_response.submitted_at")
        return [self.options.unit(picked, at or context.received_at, "form_response", places)]


def typeform_hidden_and_variables(response: Mapping[str, Any]) -> list[tuple[str, tuple[Any, str]]]:
    """`form_response.hidden` (`{"callsign": "ADAM-12"}`, from the form's link) and
    `form_response.variables` (`[{"key", "type": "text", "text"}]`), by key
    (https://www.typeform.com/developers/webhooks/example-payload/)."""
    found: list[tuple[str, tuple[Any, str]]] = []
    hidden = response.get("hidden")
    if hidden is not None:
        if not isinstance(hidden, dict):
            raise InvalidPayloadError("form_response.hidden: expected an object of hidden fields")
        found += [(_norm(key), (value, f"form_response.hidden.{key}")) for key, value in hidden.items()]
    variables = response.get("variables")
    if variables is not None:
        if not isinstance(variables, list):
            raise InvalidPayloadError("form_response.variables: expected a list of variables")
        for index, variable in enumerate(variables):
            where = f"form_response.variables[{index}]"
            if not isinstance(variable, dict) or not isinstance(variable.get("key"), str):
                raise InvalidPayloadError(f"{where}: expected a variable with a key")
            kind = variable.get("type")
            found.append(
                (_norm(variable["key"]), (variable.get(kind) if isinstance(kind, str) else None, where))
            )
    return [(name, value) for name, value in found if name]


def typeform_value(answer: Mapping[str, Any], where: str) -> Any:
    """The answer under its type's key: text, number, boolean, choice.label, choices.labels, ..."""
    kind = answer.get("type")
    value = answer.get(kind) if isinstance(kind, str) else None
    if isinstance(value, dict):
        if "label" in value or "other" in value:
            return value.get("label") or value.get("other")
        if "labels" in value and isinstance(value["labels"], list):
            return ", ".join(str(v) for v in value["labels"])
        raise InvalidPayloadError(f"{where}: a {kind} answer this relay cannot read")
    if isinstance(value, list):
        raise InvalidPayloadError(f"{where}: a {kind} answer this relay cannot read")
    return value


class TallyAdapter:
    """`{eventType: "FORM_RESPONSE", createdAt, data: {fields: [{key, label, type, value, options}]}}`."""

    def __init__(self, options: LabelledOptions) -> None:
        self.options = options

    def normalise(self, payload: Any, context: AdapterContext) -> list[UnitChange]:
        if payload.get("eventType", "FORM_RESPONSE") != "FORM_RESPONSE":
            return []
        data = payload.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("fields"), list):
            raise InvalidPayloadError("data.fields: missing, expected Tally's list of answered fields")
        by_question: Answers = {}
        for index, field in enumerate(data["fields"]):
            where = f"data.fields[{index}]"
            if not isinstance(field, dict):
                raise InvalidPayloadError(f"{where}: expected an object")
            value = tally_value(field, where)
            for name in (_norm(field.get("label")), _norm(field.get("key"))):
                if name:
                    by_question.setdefault(name, (value, f"{where}.value"))
        picked, places = _pick(self.options, by_question, "data.fields")
        if data.get("createdAt"):
            at = parse_event_time(data["createdAt"], "data.createdAt")
        else:
            at = parse_event_time(payload.get("createdAt"), "createdAt")
        return [self.options.unit(picked, at or context.received_at, "data", places)]


def tally_value(field: Mapping[str, Any], where: str) -> Any:
    """Choice answers arrive as option ids: read them back as the options' text."""
    value = field.get("value")
    if not isinstance(value, list):
        return value
    options = field.get("options")
    texts = {}
    if isinstance(options, list):
        texts = {o.get("id"): o.get("text") for o in options if isinstance(o, dict)}
    parts = []
    for item in value:
        if isinstance(item, dict):
            raise InvalidPayloadError(f"{where}: a {field.get('type')} answer this relay cannot read")
        parts.append(str(texts.get(item, item)))
    return ", ".join(parts)


class GoogleFormsAdapter:
    """The body the Apps Script in docs/sources/google-forms.md sends: `{submitted_at, answers: [...]}`."""

    def __init__(self, options: GoogleFormsOptions) -> None:
        self.id_title = options.labels["id"]
        self.mapping: MappingAdapter = build_google_forms(options)

    def normalise(self, payload: Any, context: AdapterContext) -> list[UnitChange]:
        answers = payload.get("answers")
        if not isinstance(answers, list) or not all(isinstance(a, dict) for a in answers):
            raise InvalidPayloadError("answers: expected a list of {title, response} objects")
        # The mapping reads the first answer titled like the id question: say which title was missing.
        first = next((a for a in answers if _norm(a.get("title")) == _norm(self.id_title)), None)
        if first is None or first.get("response") in (None, ""):
            raise InvalidPayloadError(
                f"answers: no answer to the unit id question {self.id_title!r} (matched by title)"
            )
        return self.mapping.units_of(payload, context)


TYPEFORM = AdapterKind(
    options_model=LabelledOptions,
    build=TypeformAdapter,
    sender=SenderFacts(
        docs="docs/sources/typeform.md",
        samples=("typeform_response.json",),
        example_source="typeform",
        profile_rank=2,
        signature={
            "scheme": "hmac-sha256",
            "header": "typeform-signature",
            "prefix": "sha256=",
            "encoding": "base64",
        },
        delivery_id_path="event_id",
    ),
)
TALLY = AdapterKind(
    options_model=LabelledOptions,
    build=TallyAdapter,
    sender=SenderFacts(
        docs="docs/sources/tally.md",
        samples=("tally_response.json",),
        example_source="tally",
        profile_rank=2,
        signature={"scheme": "hmac-sha256", "header": "tally-signature", "prefix": "", "encoding": "base64"},
        delivery_id_path="eventId",
        delivery_id_required=True,
    ),
)
GOOGLE_FORMS = AdapterKind(
    options_model=GoogleFormsOptions,
    build=GoogleFormsAdapter,
    sender=SenderFacts(
        docs="docs/sources/google-forms.md",
        samples=("google_forms_submission.json",),
        example_source="google-forms",
        profile_rank=2,
        signature={"scheme": "hmac-sha256"},
        delivery_id_path="response_id",
        delivery_id_required=True,
    ),
)
