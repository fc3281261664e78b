"""Permissions are a closed vocabulary, and what writes is guarded by a permission to write."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ketaclinic.accounts.access import require
from ketaclinic.accounts.roles import PERMISSIONS, Permission, may
from ketaclinic.api_auth import allow

SRC = Path(__file__).resolve().parents[2] / "src" / "ketaclinic"
ASKERS = {"require", "allow", "check", "may", "require_api"}


def _actions_in_code() -> dict[str, str]:
    """Every literal action handed to a permission check in src/ -> where."""
    found: dict[str, str] = {}
    for path in SRC.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            literals: list[ast.expr] = []
            if isinstance(node, ast.Call):
                name = ast.unparse(node.func).split(".")[-1]
                if name in ASKERS:
                    literals = list(node.args)
                elif name.startswith("get_") and name.endswith("_for") and len(node.args) > 2:
                    literals = [node.args[2]]
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                names = [a.arg for a in node.args.args[-len(node.args.defaults) :]]
                literals = [
                    d for a, d in zip(names, node.args.defaults, strict=False) if a == "action"
                ]
            for literal in literals:
                value = getattr(literal, "value", None)
                if isinstance(value, str) and "." in value and " " not in value:
                    found[value] = f"{path.relative_to(SRC)}:{node.lineno}"
    return found


def test_every_action_the_code_asks_about_is_in_the_role_table():
    asked = _actions_in_code()
    assert len(asked) > 30  # the scan found the checks
    assert {a: where for a, where in asked.items() if a not in PERMISSIONS} == {}


def test_the_enum_is_the_table():
    assert {p.value for p in Permission} == set(PERMISSIONS)
    assert Permission.CLINICAL_VIEW == "clinical.view"


def test_a_misspelt_action_fails_when_declared_not_by_refusing_everyone():
    with pytest.raises(ValueError, match="clinical.veiw"):
        require("clinical.veiw")
    with pytest.raises(ValueError, match="clinical.veiw"):
        allow("clinical.veiw")
    with pytest.raises(ValueError, match="clinical.veiw"):
        may("nurse", "clinical.veiw")
    assert may("nurse", "undeclared") is False


def test_no_api_route_that_writes_is_guarded_by_a_view_permission():
    from ketaclinic.api import api

    writes_on_view = []
    for prefix, router in api._routers:
        for path, operations in router.path_operations.items():
            for operation in operations.operations:
                actions = [getattr(a, "action", "") for a in operation.auth_callbacks or []]
                if set(operation.methods) - {"GET", "HEAD"} and any(
                    a.endswith(".view") for a in actions
                ):
                    writes_on_view.append((operation.methods, prefix + path, actions))
    assert writes_on_view == []
