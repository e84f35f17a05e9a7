"""Issue 21's interop findings on contracts/northca-partner-api.yaml, checked with real validators
(openapi-spec-validator for the file, a JSON Schema 2020-12 validator for answers) instead of the
emulator suite's own reading of it:

- the file is a valid OpenAPI 3.1 document, and says nothing only 3.0 knows (`nullable`);
- the 200 answers can be satisfied: the emulator's own answers validate, strictly (the envelope's
  `data` was an object while the upsert's is an array);
- an id is non-empty in the schema as in the prose ("" and "   " are refused by both);
- the list the consumer reads before it writes is in the file, marked assumed;
- the emulator refuses a body that is not application/json, as the contract takes only that."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3
import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

from relay_devtools.emulators.northca import NorthcaEmulator
from tests.support.constants import GUILD, MDT, PARTNER_KEY, ROOT

CONTRACT = ROOT / "contracts" / "northca-partner-api.yaml"
UNITS = "/mdts/{mdtId}/units/active"


def contract() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(CONTRACT.read_text())
    return loaded


def validator(*pointer: str) -> Draft202012Validator:
    """A JSON Schema 2020-12 validator for the schema at `pointer` in the file, its $refs resolved."""
    escaped = "/".join(part.replace("~", "~0").replace("/", "~1") for part in pointer)
    return Draft202012Validator({**contract(), "$ref": f"#/{escaped}"})


def answer_schema(method: str, status: str) -> Draft202012Validator:
    return validator("paths", UNITS, method, "responses", status, "content", "application/json", "schema")


def keys_anywhere(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from keys_anywhere(value)
    elif isinstance(node, list):
        for item in node:
            yield from keys_anywhere(item)


@pytest.fixture
def partner() -> Iterator[tuple[NorthcaEmulator, urllib3.PoolManager]]:
    with NorthcaEmulator([PARTNER_KEY], {MDT: [GUILD]}) as emulator:
        yield emulator, urllib3.PoolManager(retries=False, timeout=5.0)


def call(
    partner: tuple[NorthcaEmulator, urllib3.PoolManager], method: str, body: Any = None, **headers: str
) -> tuple[int, Any]:
    emulator, pool = partner
    sent = {"x-partner-key": PARTNER_KEY, "x-discord-guild": GUILD, "content-type": "application/json"}
    sent |= {name.replace("_", "-"): value for name, value in headers.items()}
    raw = None if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    answer = pool.request(method, f"{emulator.base_url}/mdts/{MDT}/units/active", body=raw, headers=sent)
    return answer.status, json.loads(answer.data)


def test_the_contract_is_a_valid_openapi_3_1_document() -> None:
    spec, _ = read_from_filename(str(CONTRACT))
    validate(spec)  # raises on any error
    assert str(spec["openapi"]).startswith("3.1")
    # 3.1's schemas are JSON Schema 2020-12, where 3.0's `nullable` means nothing (a null is a type)
    assert "nullable" not in set(keys_anywhere(spec))


def test_the_emulators_answers_satisfy_the_contract_strictly(
    partner: tuple[NorthcaEmulator, urllib3.PoolManager],
) -> None:
    example = contract()["components"]["schemas"]["UpsertActiveUnitsBody"]["example"]
    validator("components", "schemas", "UpsertActiveUnitsBody").validate(example)
    status, upserted = call(partner, "PUT", example)
    assert status == 200
    answer_schema("put", "200").validate(upserted)
    status, listed = call(partner, "GET")
    assert status == 200
    answer_schema("get", "200").validate(listed)
    assert [unit["id"] for unit in listed["data"]] == ["ADAM-12", "LINCOLN-3"]
    # and an envelope whose data is not the array of units does not pass
    assert list(answer_schema("put", "200").iter_errors({"ok": True, "data": {"id": "A"}}))


@pytest.mark.parametrize("unit_id", ["", "   ", "\t\n"])
def test_an_id_of_nothing_or_blanks_is_refused_by_the_schema_and_the_emulator(
    partner: tuple[NorthcaEmulator, urllib3.PoolManager], unit_id: str
) -> None:
    body = {"units": [{"id": unit_id, "status": "10-8"}]}
    assert list(validator("components", "schemas", "UpsertActiveUnitsBody").iter_errors(body))
    status, answer = call(partner, "PUT", body)
    assert (status, answer) == (400, {"ok": False, "error": "Each unit must include a non-empty id"})
    answer_schema("put", "400").validate(answer)


def test_the_list_the_consumer_reads_is_in_the_contract_marked_assumed() -> None:
    listing = contract()["paths"][UNITS]["get"]
    assert listing["x-assumed"] is True
    assert listing["summary"].endswith("(ASSUMED)")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_the_emulator_refuses_an_upsert_that_is_not_json(
    partner: tuple[NorthcaEmulator, urllib3.PoolManager], content_type: str
) -> None:
    body = json.dumps({"units": [{"id": "ADAM-12", "status": "10-8"}]}).encode()
    status, answer = call(partner, "PUT", body, content_type=content_type)
    assert (status, answer) == (400, {"ok": False, "error": "Expected { units: [...] }"})
    emulator, _ = partner
    assert emulator.units(MDT) == {}
    # while the type's parameters and case do not matter
    assert call(partner, "PUT", body, content_type="Application/JSON; charset=utf-8")[0] == 200
