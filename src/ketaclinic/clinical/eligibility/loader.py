"""Loading of rule files: the shipped ones (cached) and a clinic's own directories."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ketaclinic.clinical.eligibility.schema import Rule, RuleSet, SourceRef, ruleset_problems

__all__ = ["SHIPPED_RULES_DIR", "RuleLoadError", "load_rulesets", "load_ruleset_file"]

SHIPPED_RULES_DIR = Path(__file__).resolve().parent / "rules"


class RuleLoadError(ValueError):
    """Raised for a rule file that cannot be used; names the file and, if known, the rule."""

    def __init__(self, path: Path | str, rule: str | None, problem: str) -> None:
        where = f"{path}" if rule is None else f"{path}, rule {rule}"
        super().__init__(f"{where}: {problem}")
        self.path = str(path)
        self.rule = rule
        self.problem = problem


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses duplicate mapping keys.

    Plain PyYAML keeps the last of two `level:` keys without a word; in a clinical
    rule that silently changes what the rule does.
    """


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_unique_mapping,
)


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False):
        loc = ".".join(str(p) for p in item["loc"])
        parts.append(f"{loc}: {item['msg']}" if loc else item["msg"])
    return "; ".join(parts)


def load_ruleset_file(path: Path) -> RuleSet:
    """Return the validated RuleSet in one YAML file; raise RuleLoadError if it is invalid.

    The rule set carries the SHA-256 of the file's bytes (``file_hash``): two files with
    the same version but different content are told apart in every stored result.
    """
    try:
        content = path.read_bytes()
        raw = yaml.load(content.decode("utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RuleLoadError(path, None, f"cannot read YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise RuleLoadError(path, None, "a rule file must be a mapping with family, rules ...")
    raw_rules = raw.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise RuleLoadError(path, None, "`rules` must be a non-empty list")
    # Validate rule by rule so the error names the rule, not "rules.17.when...".
    rules: list[Rule] = []
    for index, raw_rule in enumerate(raw_rules):
        rule_name = f"#{index + 1}"
        if isinstance(raw_rule, dict) and isinstance(raw_rule.get("id"), str):
            rule_name = raw_rule["id"]
        try:
            rules.append(Rule.model_validate(raw_rule))
        except ValidationError as exc:
            raise RuleLoadError(path, rule_name, _describe(exc)) from exc
    try:
        sources = tuple(SourceRef.model_validate(s) for s in raw.get("sources") or ())
    except ValidationError as exc:
        raise RuleLoadError(path, None, f"sources: {_describe(exc)}") from exc
    problems = ruleset_problems(rules, sources)
    if problems:
        rule_id, problem = problems[0]
        raise RuleLoadError(path, rule_id, problem)
    try:
        ruleset = RuleSet.model_validate({**raw, "rules": rules})
    except ValidationError as exc:
        raise RuleLoadError(path, None, _describe(exc)) from exc
    ruleset._file_hash = hashlib.sha256(content).hexdigest()
    return ruleset


def _load_dir(directory: Path) -> dict[str, RuleSet]:
    if not directory.is_dir():
        raise RuleLoadError(directory, None, "not a directory")
    found: dict[str, RuleSet] = {}
    origin: dict[str, Path] = {}
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        ruleset = load_ruleset_file(path)
        if ruleset.family in found:
            raise RuleLoadError(
                path, None, f"family {ruleset.family!r} is also defined in {origin[ruleset.family]}"
            )
        found[ruleset.family] = ruleset
        origin[ruleset.family] = path
    return found


@functools.cache
def _shipped() -> dict[str, RuleSet]:
    return _load_dir(SHIPPED_RULES_DIR)


def load_rulesets(extra_dirs: Iterable[Path | str] = ()) -> dict[str, RuleSet]:
    """Return family -> RuleSet: the shipped files plus a clinic's own directories.

    Shipped files are read once and cached. Clinic directories are read on every
    call (a clinic may edit them). A clinic file replaces the shipped (or an
    earlier directory's) rule set of its family only when its `version` is higher,
    so a newer shipped release is never shadowed by an old local copy; a new family
    is simply added. Any invalid file raises RuleLoadError.
    """
    rulesets = dict(_shipped())
    for directory in extra_dirs:
        for family, ruleset in _load_dir(Path(directory)).items():
            current = rulesets.get(family)
            if current is None or ruleset.version > current.version:
                rulesets[family] = ruleset
    return rulesets
