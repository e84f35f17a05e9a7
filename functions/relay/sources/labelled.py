"""Presets whose bodies are lists of labelled values (Discord embed fields, form answers).

Each is a mapping (relay.sources.mapping) generated from a table of labels, so what it does can be
written out as plain mapping options: `as_mapping()` gives them (docs/sources/*.md show them).
Labels match case-insensitively and ignore surrounding spaces.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from relay.sources.fields import FieldRules, PickKey
from relay.sources.mapping import Expression, MappingAdapter, MappingOptions

DEFAULT_LABELS: dict[PickKey, str] = {
    "id": "Callsign",
    "officer_name": "Name",
    "officer_badge": "Badge",
    "department": "Department",
    "rank": "Rank",
    "status": "Status",
}


def jmespath_literal(text: str) -> str:
    """A JMESPath raw string literal holding `text` exactly."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def label_key(label: str) -> str:
    return jmespath_literal(label.strip().lower())


class LabelledOptions(FieldRules):
    """Which label holds which unit field; a label of "" leaves that field alone."""

    labels: dict[PickKey, str] = Field(default_factory=lambda: dict(DEFAULT_LABELS))

    @model_validator(mode="before")
    @classmethod
    def _labels_over_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("labels"), dict):
            data = {**data, "labels": {**DEFAULT_LABELS, **data["labels"]}}
        return data

    @field_validator("labels")
    @classmethod
    def _id_has_a_label(cls, labels: dict[PickKey, str]) -> dict[PickKey, str]:
        if not labels.get("id", "").strip():
            raise ValueError("a label for the unit id (`id`) is required")
        return labels

    def rules(self) -> dict[str, Any]:
        return self.model_dump(include=set(FieldRules.model_fields))


class DiscordOptions(LabelledOptions):
    at: Expression | None = "timestamp"

    def as_mapping(self) -> MappingOptions:
        fields = {
            key: f"plain(fields[?lower(trim(name))=={label_key(label)}] | [0].value)"
            for key, label in self.labels.items()
            if label.strip()
        }
        return MappingOptions(
            units="embeds",
            # Only embeds that carry the id label describe a unit (others are headers, footers, ...).
            filter=f"fields[?lower(trim(name))=={label_key(self.labels['id'])}]",
            at=self.at,
            fields=fields,
            **self.rules(),
        )


class GoogleFormsOptions(LabelledOptions):
    at: Expression | None = "submitted_at"

    def as_mapping(self) -> MappingOptions:
        fields = {
            key: f"answers[?lower(trim(title))=={label_key(label)}] | [0].response"
            for key, label in self.labels.items()
            if label.strip()
        }
        return MappingOptions(units="@", at=self.at, fields=fields, **self.rules())


def build_discord(options: DiscordOptions) -> MappingAdapter:
    return MappingAdapter(options.as_mapping())


def build_google_forms(options: GoogleFormsOptions) -> MappingAdapter:
    return MappingAdapter(options.as_mapping())
