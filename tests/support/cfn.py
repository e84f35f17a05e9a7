"""template.yaml as the template tests read it: as written (SAM, before the transform), with cfn-lint's YAML
loader, so `!Ref`, `!Sub`, `!GetAtt`, ... come back as their long forms (`{"Ref": ...}`,
`{"Fn::Sub": ...}`). Numbers behind a `!Ref` to a parameter resolve to the parameter's Default, MinValue
or MaxValue; `Fn::FindInMap` with literal keys to the mapping's value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from cfnlint.decode import cfn_yaml

from tests.support.constants import ROOT

TEMPLATE_PATH = ROOT / "template.yaml"


def load_template() -> dict[str, Any]:
    loaded: dict[str, Any] = cfn_yaml.loads(TEMPLATE_PATH.read_text(encoding="utf-8"), str(TEMPLATE_PATH))
    return loaded


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == resource_type}


def function_names(template: dict[str, Any]) -> list[str]:
    return sorted(resources_of_type(template, "AWS::Serverless::Function"))


def merge_globals(global_value: Any, local_value: Any) -> Any:
    """SAM's Globals rule: maps merge (local wins), lists concatenate, anything else is the local value."""
    if isinstance(global_value, dict) and isinstance(local_value, dict):
        if any(k == "Ref" or k.startswith("Fn::") for k in (*global_value, *local_value)):
            return local_value
        merged = dict(global_value)
        for key, value in local_value.items():
            merged[key] = merge_globals(merged[key], value) if key in merged else value
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return global_value + local_value
    return local_value


def function_properties(template: dict[str, Any], name: str) -> dict[str, Any]:
    global_props = template.get("Globals", {}).get("Function", {})
    props: dict[str, Any] = merge_globals(global_props, template["Resources"][name]["Properties"])
    return props


def parameter(template: dict[str, Any], name: str) -> dict[str, Any]:
    params: dict[str, Any] = template["Parameters"]
    assert name in params, f"parameter {name} is not declared"
    result: dict[str, Any] = params[name]
    return result


def resolve(template: dict[str, Any], value: Any, bound: str = "Default") -> Any:
    """A literal, a `Ref` to a parameter (its Default, MinValue or MaxValue) or a `Fn::FindInMap`."""
    if isinstance(value, dict) and "Ref" in value:
        param = parameter(template, value["Ref"])
        assert bound in param, f"parameter {value['Ref']} has no {bound}"
        return param[bound]
    if isinstance(value, dict) and "Fn::FindInMap" in value:
        mapping, top, second = (resolve(template, key, bound) for key in value["Fn::FindInMap"])
        return template["Mappings"][mapping][str(top)][second]
    assert not isinstance(value, dict), f"cannot resolve {value!r}"
    return value


def number(template: dict[str, Any], value: Any, bound: str = "Default") -> int:
    return int(resolve(template, value, bound))


def getatt_target(value: Any) -> str:
    assert isinstance(value, dict), f"expected !GetAtt, got {value!r}"
    assert "Fn::GetAtt" in value, f"expected !GetAtt, got {value!r}"
    target = value["Fn::GetAtt"]
    name = target[0] if isinstance(target, list) else target.split(".")[0]
    return str(name)


def ref_target(value: Any) -> str:
    """The logical id behind a `!Ref` or a `!GetAtt`."""
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"]).split(".")[0]
    return getatt_target(value)


def flat(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def iter_policies(template: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(owner, policy) for every function's Policies entry and every IAM resource's documents."""
    for name in function_names(template):
        for policy in function_properties(template, name).get("Policies", []):
            yield name, policy
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::Role"):
        for name, resource in resources_of_type(template, kind).items():
            props = resource["Properties"]
            if "PolicyDocument" in props:
                yield name, props["PolicyDocument"]
            for inline in props.get("Policies", []):
                yield name, inline["PolicyDocument"]


def statements(template: dict[str, Any], owner: str) -> list[dict[str, Any]]:
    """The policy statements written out for `owner` (SAM policy templates left out)."""
    return [
        statement
        for name, policy in iter_policies(template)
        if name == owner and isinstance(policy, dict) and "Statement" in policy
        for statement in flat(policy["Statement"])
    ]


def resource_text(template: dict[str, Any], value: Any) -> str:
    """A Resource entry as text, `${Param}` replaced by the parameter's Default."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
        params = template["Parameters"]
        return re.sub(
            r"\$\{([A-Za-z0-9]+)\}",
            lambda m: str(params[m.group(1)]["Default"]) if m.group(1) in params else m.group(0),
            value["Fn::Sub"],
        )
    return json.dumps(value)  # !GetAtt / !Ref: a named resource


def references(value: Any) -> set[str]:
    """Every logical id or parameter `value` refers to (Ref, GetAtt, `${X}` / `${X.Attr}` in Sub)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner.split(".")[0])
            elif key == "Fn::GetAtt":
                found.add(getatt_target(value))
            elif key == "Fn::Sub":
                text, variables = (inner, {}) if isinstance(inner, str) else (inner[0], inner[1])
                names = {m.split(".")[0] for m in re.findall(r"\$\{([^!][^}]*)\}", text)}
                found |= names - set(variables)
                found |= references(variables)
            else:
                found |= references(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= references(inner)
    return found
