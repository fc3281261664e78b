"""Audit actions are a closed vocabulary, each with its FHIR AuditEvent action code."""

from __future__ import annotations

import ast
from pathlib import Path

from ketaclinic.audit.actions import FHIR_ACTION, AuditAction, fhir_action

SRC = Path(__file__).resolve().parents[2] / "src" / "ketaclinic"
# Functions that write an audit event, and the position of their action argument.
WRITERS = {"record": 1, "record_system": 0, "_record": 1, "_audit_appointment": 1}


def _written_actions() -> dict[str, str]:
    """Every action given as a literal to an audit writer in src/ -> where."""
    found: dict[str, str] = {}
    for path in SRC.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func).split(".")[-1]
            position = WRITERS.get(name)
            if position is None or len(node.args) <= position:
                continue
            arg = node.args[position]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found[arg.value] = f"{path.relative_to(SRC)}:{node.lineno}"
            for keyword in node.keywords:
                if keyword.arg == "audit_action" and isinstance(keyword.value, ast.Constant):
                    found[keyword.value.value] = f"{path.relative_to(SRC)}:{node.lineno}"
    return found


def test_every_action_the_code_writes_is_in_the_vocabulary():
    written = _written_actions()
    assert len(written) > 50  # the scan found the writers
    unknown = {action: where for action, where in written.items() if action not in AuditAction}
    assert unknown == {}


def test_every_action_has_a_fhir_code():
    assert set(FHIR_ACTION) == set(AuditAction)
    assert set(FHIR_ACTION.values()) == {"C", "R", "U", "D", "E"}
    assert fhir_action("view") == "R"
    assert fhir_action("login") == "E"
    assert fhir_action("create") == "C"
    assert fhir_action("sign") == "U"
    assert fhir_action("revoke") == "D"
