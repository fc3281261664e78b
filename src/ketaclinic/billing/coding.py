"""Charge lines proposed from what a visit documented, by the rules in rules/coding.yaml.

Pure functions over plain facts (no database): `propose(facts)` returns the lines a biller
then reviews. Every code, unit and minute threshold comes from the YAML (with its source
and effective dates); nothing here is typed from memory (docs/clinical-sources.md §8).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import yaml

from ketaclinic.clinical.eligibility.loader import _UniqueKeyLoader

RULES_FILE = Path(__file__).resolve().parent / "rules" / "coding.yaml"


class CodingRulesError(ValueError):
    """The coding rules file cannot be used (names what is wrong)."""


@dataclass(frozen=True)
class VisitFacts:
    """What the record says about one visit, as the rules read it."""

    kind: str  # treatment | consultation | integration | preparation | follow_up
    service_date: date
    payer_kind: str = "self_pay"  # medicare | medicaid | commercial | self_pay
    drug: str = ""  # esketamine | racemic_ketamine
    route: str = ""  # intranasal | iv | im
    dose_mg: Decimal | None = None
    infusion_minutes: int | None = None
    ml_given: Decimal | None = None
    ndc: str = ""
    # From the signed progress note; None when the note documents no minutes.
    psychotherapy_minutes: int | None = None
    # The role of the clinician who saw the patient (consultation: 90792 or 90791).
    provider_role: str = ""
    instruments: tuple[str, ...] = ()
    icd10: tuple[str, ...] = ()
    companion_codes: tuple[str, ...] = ()


@dataclass
class ProposedLine:
    code: str
    units: Decimal
    rule: str
    source: str
    modifiers: list[str] = field(default_factory=list)
    ndc: str = ""
    ndc_unit: str = ""
    ndc_quantity: Decimal | None = None
    description: str = ""
    pointers: list[int] = field(default_factory=list)
    note: str = ""
    # Held for review: the record lacks what the rule needs; `note` says what, in plain words.
    held: bool = False


@functools.cache
def rules() -> dict[str, Any]:
    return load_rules(RULES_FILE)


def load_rules(path: Path) -> dict[str, Any]:
    """The rules file, checked: every `source:` names a listed source."""
    try:
        raw = yaml.load(path.read_text("utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506
    except (OSError, yaml.YAMLError) as exc:
        raise CodingRulesError(f"{path}: cannot read YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise CodingRulesError(f"{path}: not a mapping")
    for key in ("version", "sources", "esketamine", "racemic_ketamine", "psychotherapy"):
        if key not in raw:
            raise CodingRulesError(f"{path}: `{key}` is missing")
    known = {s["key"] for s in raw["sources"]}

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if "source" in node and node["source"] not in known:
                raise CodingRulesError(f"{path}: {where}: unknown source {node['source']!r}")
            for k, v in node.items():
                walk(v, f"{where}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}[{i}]")

    walk({k: v for k, v in raw.items() if k != "sources"}, "rules")
    return raw


def _in_effect(entry: dict[str, Any], on: date) -> bool:
    start = entry.get("effective_from")
    end = entry.get("effective_to")
    return (start is None or start <= on) and (end is None or on <= end)


# --- the minute rules ------------------------------------------------------------


def infusion_codes(minutes: int) -> list[tuple[str, int]]:
    """(code, units) for an IV infusion of `minutes`: 96374 / 96365 and 96366 per extra hour."""
    iv = rules()["racemic_ketamine"]["iv"]
    if minutes <= 0:
        return []
    if minutes <= iv["push"]["when_minutes_at_most"]:
        return [(iv["push"]["code"], 1)]
    found = [(iv["first_hour"]["code"], 1)]
    extra = minutes - iv["first_hour"]["up_to_minutes"]
    if extra > 0:
        hour = iv["additional_hour"]["hour_minutes"]
        units = extra // hour + (
            1 if extra % hour > iv["additional_hour"]["when_remainder_over"] else 0
        )
        if units:
            found.append((iv["additional_hour"]["code"], units))
    return found


def psychotherapy_code(minutes: int) -> str | None:
    """The psychotherapy code for `minutes` of documented time, or None below the shortest band."""
    for band in rules()["psychotherapy"]["bands"]:
        top = band.get("to_minutes")
        if minutes >= band["from_minutes"] and (top is None or minutes <= top):
            return str(band["code"])
    return None


def pointers(icd10: tuple[str, ...]) -> list[int]:
    """Diagnosis pointers (1-based) a line carries: the first four codes."""
    limit = rules()["diagnosis"]["max_pointers_per_line"]
    return list(range(1, min(len(icd10), limit) + 1))


def diagnosis_codes(codes: list[str]) -> tuple[str, ...]:
    """Distinct ICD-10-CM codes in order, at most the claim's twelve, placeholders dropped."""
    seen: list[str] = []
    for code in codes:
        code = (code or "").strip().upper()
        if code and "X" not in code.split(".")[-1] and code not in seen:
            seen.append(code)
    return tuple(seen[: rules()["diagnosis"]["max_codes"]])


# --- proposing ----------------------------------------------------------------------


def _line(code: str, units: int | Decimal, rule: str, source: str, **kw: Any) -> ProposedLine:
    return ProposedLine(code=str(code), units=Decimal(units), rule=rule, source=source, **kw)


def _esketamine(facts: VisitFacts) -> list[ProposedLine]:
    table = rules()["esketamine"]
    family = rules()["payer_kinds"].get(facts.payer_kind, "self_pay")
    mg = facts.dose_mg or Decimal(0)
    if mg <= 0:
        return []
    out: list[ProposedLine] = []
    for entry in table[family]:
        if not _in_effect(entry, facts.service_date):
            continue
        if "when_mg_at_most" in entry and mg > entry["when_mg_at_most"]:
            continue
        if "when_mg_over" in entry and mg <= entry["when_mg_over"]:
            continue
        if "units_per_mg" in entry:
            units = (mg * Decimal(entry["units_per_mg"])).quantize(Decimal(1), ROUND_HALF_UP)
            out.append(_line(entry["code"], units, f"esketamine.{family}", entry["source"]))
        else:
            out.append(
                _line(entry["code"], entry["units"], f"esketamine.{family}", entry["source"])
            )
        break
    if family != "medicare":
        for code in facts.companion_codes:
            out.append(
                _line(
                    code,
                    1,
                    "esketamine.payer_companion",
                    "SPRAVATO-HCP-REIMB",
                    note="From the payer's set-up (E/M or observation codes).",
                )
            )
    return out


def _ketamine(facts: VisitFacts) -> list[ProposedLine]:
    table = rules()["racemic_ketamine"]
    drug = table["drug"]
    out: list[ProposedLine] = []
    if facts.route == "iv":
        for code, units in infusion_codes(facts.infusion_minutes or 0):
            out.append(
                _line(
                    code,
                    units,
                    "ketamine.iv",
                    table["iv"]["push"]["source"],
                    note=f"Infusion {facts.infusion_minutes} min from start to stop.",
                )
            )
    elif facts.route == "im":
        im = table["im"]["injection"]
        out.append(_line(im["code"], im["units"], "ketamine.im", im["source"]))
    if out:
        out.insert(
            0,
            _line(
                drug["code"],
                drug["units"],
                "ketamine.drug",
                drug["source"],
                ndc=facts.ndc,
                ndc_unit=drug["ndc_unit"],
                ndc_quantity=facts.ml_given,
                description=drug["description"],
            ),
        )
    return out


def _instruments(facts: VisitFacts) -> list[ProposedLine]:
    table = rules()["instruments"]
    scored = [i for i in facts.instruments if i in table["scored"]]
    if not scored:
        return []
    return [
        _line(
            table["code"],
            len(scored),
            "instruments",
            table["source"],
            note="Scored: " + ", ".join(sorted(scored)),
        )
    ]


def _consultation(facts: VisitFacts) -> list[ProposedLine]:
    """90792 when a physician evaluated (medical services), 90791 when a therapist did."""
    table = rules()["consultation"]
    entry = table["by_role"].get(facts.provider_role)
    if entry is None:
        return [
            _line(
                "",
                1,
                "consultation",
                table["source"],
                held=True,
                note="The consultation's clinician is neither a physician nor a therapist: "
                "choose 90792 or 90791 from who evaluated the patient.",
            )
        ]
    return [_line(entry["code"], entry["units"], "consultation", entry["source"])]


def _psychotherapy(facts: VisitFacts) -> list[ProposedLine]:
    """The band of the documented minutes; held when none are documented (never guessed)."""
    bands = rules()["psychotherapy"]["bands"]
    minutes = facts.psychotherapy_minutes
    if minutes is None:
        return [
            _line(
                "",
                1,
                "psychotherapy",
                bands[0]["source"],
                held=True,
                note="The signed progress note documents no psychotherapy minutes: choose "
                "the code from the documented time, or void the line.",
            )
        ]
    code = psychotherapy_code(minutes)
    if code is None:
        return []
    band = next(b for b in bands if b["code"] == code)
    return [_line(code, 1, "psychotherapy", band["source"], note=f"{minutes} min documented.")]


def propose(facts: VisitFacts) -> list[ProposedLine]:
    """The charge lines for one signed visit, in claim order."""
    lines: list[ProposedLine] = []
    if facts.kind == "treatment":
        if facts.drug == "esketamine":
            lines += _esketamine(facts)
        elif facts.drug == "racemic_ketamine":
            lines += _ketamine(facts)
    elif facts.kind == "consultation":
        lines += _consultation(facts)
    elif facts.kind in ("integration", "preparation"):
        lines += _psychotherapy(facts)
    lines += _instruments(facts)
    ptrs = pointers(facts.icd10)
    for line in lines:
        line.pointers = list(ptrs)
    return lines


def minutes_between(start: Any, end: Any, pauses: Sequence[tuple[Any, Any]] = ()) -> int:
    """Whole minutes from start to end less paused intervals (seconds rounded down)."""
    if start is None or end is None or end <= start:
        return 0
    seconds = (end - start).total_seconds()
    for p_start, p_end in pauses:
        lo, hi = max(p_start, start), min(p_end or end, end)
        if hi > lo:
            seconds -= (hi - lo).total_seconds()
    return max(0, math.floor(seconds / 60))
