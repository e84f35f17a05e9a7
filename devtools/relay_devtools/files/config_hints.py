"""Config errors a person can act on: each problem of a ConfigError, with the keys allowed where it
is and the nearest one to a typo (`[source.cad]` -> `[sources.cad]`; `adapter = "typefrom"` ->
"typeform").

relay.config words its errors as `FILE: LOCATION: MESSAGE; ...`; this reads that text and looks the
location up in the pydantic models, so the allowed keys are always the schema's own.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from relay.config.schema import RelayConfig
from relay.sources.registry import KINDS, adapter_kind

_PROBLEM = re.compile(r"^(?P<origin>.+?): (?P<location>[^\s:]+): (?P<message>.+)$")
_CHOICE = re.compile(r"expected one of (?P<choices>.+), got '(?P<given>[^']*)'")


def _unwrap(annotation: Any) -> Any:
    """`Annotated[X, ...]` and `X | None` to X (a union of several models stays a union)."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0])
    return annotation


def _model_for_tag(annotation: Any, tag: str) -> Any:
    """The member of a discriminated union whose `scheme` literal is `tag`."""
    for member in typing.get_args(annotation):
        member = _unwrap(member)
        if isinstance(member, type) and issubclass(member, BaseModel):
            field = member.model_fields.get("scheme")
            if field is not None and tag in typing.get_args(field.annotation):
                return member
    return None


def allowed_keys(path: list[str], root: type[BaseModel] = RelayConfig) -> list[str] | None:
    """The keys a table at `path` may hold, or None when the schema does not say (free-form tables)."""
    current: Any = root
    for key in path:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(key)
            if field is None:
                return None
            current = field.annotation
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]
        elif typing.get_origin(current) in (typing.Union, types.UnionType):
            current = _model_for_tag(current, key)
            if current is None:
                return None
        else:
            return None
    current = _unwrap(current)
    if typing.get_origin(current) in (typing.Union, types.UnionType):
        return None
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(current.model_fields)
    return None


def _adapter_of(origin: str, source: str) -> str | None:
    """The adapter relay.toml (`origin`, the file the error names) gives a source, if it can be read."""
    try:
        data = tomllib.loads(Path(origin).read_text(encoding="utf-8"))
        adapter = data["sources"][source]["adapter"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return adapter if isinstance(adapter, str) else None


def allowed_keys_at(origin: str, path: list[str]) -> list[str] | None:
    """The keys allowed at `path`; inside a source's options, its adapter's (`options` is free-form in
    the schema: each adapter kind checks its own)."""
    if len(path) >= 3 and path[0] == "sources" and path[2] == "options":
        adapter = _adapter_of(origin, path[1])
        if adapter not in KINDS:
            return None
        return allowed_keys(path[3:], adapter_kind(adapter).options_model)
    return allowed_keys(path)


def nearest(word: str, choices: list[str]) -> str | None:
    found = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return found[0] if found else None


def hint_for(problem: str) -> str | None:
    """What to do about one problem (`FILE: LOCATION: MESSAGE`), or None when its text says enough."""
    match = _PROBLEM.match(problem.strip())
    if match is None:
        return None
    origin, location, message = match["origin"], match["location"], match["message"]
    choice = _CHOICE.search(message)
    if choice:
        options = re.findall(r"'([^']*)'", choice["choices"])
        guess = nearest(choice["given"], options)
        return f"did you mean {guess!r}?" if guess else None
    if "Extra inputs are not permitted" not in message:
        return None
    path = location.split(".")
    parent, key = path[:-1], path[-1]
    keys = allowed_keys_at(origin, parent)
    if keys is None:
        return None
    # pydantic names a signature's scheme in the location; the file has no such table.
    where = re.sub(r"\.signature\.[a-z0-9-]+$", ".signature", ".".join(parent))
    hint = f"allowed in {where or 'the top level'}: {', '.join(keys)}"
    guess = nearest(key, keys)
    if guess:
        hint += f"; did you mean {'.'.join([p for p in (where, guess) if p])!r}?"
    return hint


def explain(message: str) -> str:
    """A ConfigError's text, one problem a line, each followed by its hint when there is one."""
    lines = []
    for problem in message.split("; "):
        lines.append(problem)
        hint = hint_for(problem)
        if hint:
            lines.append(f"    {hint}")
    return "\n".join(lines)
