"""Static checks on the ingress's signature code (signatures.py, keys.py): MACs and tokens are compared
in constant time, never with `==`."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import relay.ingress.keys
import relay.ingress.signatures

TREE = ast.parse(Path(relay.ingress.signatures.__file__).read_text(encoding="utf-8"))
KEYS_TREE = ast.parse(Path(relay.ingress.keys.__file__).read_text(encoding="utf-8"))
# Names that hold (or are derived from) a MAC, a signature, a token or a secret.
SECRET_LIKE = re.compile(r"mac|digest|sig|token|secret|key|expected|candidate|presented", re.IGNORECASE)
VERIFIERS = ("verify_standard_webhooks", "verify_hmac_sha256", "_matches_any")


def _is_len(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "len"


def _names(node: ast.Compare) -> set[str]:
    """Names compared, except inside len(): comparing lengths is public information, not the MAC."""
    found = set()
    operands = [operand for operand in [node.left, *node.comparators] if not _is_len(operand)]
    for child in (inner for operand in operands for inner in ast.walk(operand)):
        if isinstance(child, ast.Name):
            found.add(child.id)
        elif isinstance(child, ast.Attribute):
            found.add(child.attr)
    return found


def equality_offenders(tree: ast.AST) -> list[str]:
    """Every ==, !=, `in` and `not in` whose operands name a secret-derived value."""
    offenders = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        if not any(isinstance(op, ast.Eq | ast.NotEq | ast.In | ast.NotIn) for op in node.ops):
            continue
        if any(SECRET_LIKE.search(name) for name in _names(node)):
            offenders.append(f"line {node.lineno}: {ast.unparse(node)}")
    return offenders


def test_signatures_the_checker_flags_a_plain_mac_comparison() -> None:
    # Given code that compares MACs the wrong way / Then the checker below would catch it
    bad = ast.parse("if expected == candidate: pass\nok = presented in keys\nfine = len(mac) == 32")
    assert equality_offenders(bad) == ["line 1: expected == candidate", "line 2: presented in keys"]


def test_signatures_no_equality_comparison_touches_a_mac_token_or_secret() -> None:
    # Given every comparison in relay/ingress/signatures.py and keys.py / Then none compares a secret
    assert equality_offenders(TREE) == []
    assert equality_offenders(KEYS_TREE) == []


def test_signatures_every_mac_and_token_check_uses_hmac_compare_digest() -> None:
    functions = {node.name: node for node in ast.walk(TREE) if isinstance(node, ast.FunctionDef)}
    for name in VERIFIERS:
        calls = [
            ast.unparse(call.func)
            for call in ast.walk(functions[name])
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
        ]
        assert "hmac.compare_digest" in calls, name


def test_signatures_body_key_and_url_token_go_through_the_constant_time_helper() -> None:
    functions = {node.name: node for node in ast.walk(TREE) if isinstance(node, ast.FunctionDef)}
    for name in ("check_body_key", "verify_url_token"):
        called = {ast.unparse(c.func) for c in ast.walk(functions[name]) if isinstance(c, ast.Call)}
        assert "_matches_any" in called, name
