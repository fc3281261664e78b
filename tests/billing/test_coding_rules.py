"""The coding rules (billing/rules/coding.yaml) applied to plain visit facts."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketaclinic.billing import coding
from ketaclinic.billing.coding import VisitFacts, infusion_codes, propose, psychotherapy_code

DAY = date(2026, 11, 2)


def codes(lines):
    return [(line.code, int(line.units)) for line in lines]


def esk(mg, payer="medicare", day=DAY, **kw):
    return propose(
        VisitFacts(
            kind="treatment",
            service_date=day,
            payer_kind=payer,
            drug="esketamine",
            route="intranasal",
            dose_mg=Decimal(mg),
            **kw,
        )
    )


def test_every_rule_names_a_listed_source():
    rules = coding.load_rules(coding.RULES_FILE)
    assert rules["version"] >= 1


def test_an_unknown_source_is_refused(tmp_path):
    bad = coding.RULES_FILE.read_text().replace("source: CPT-PSYCH", "source: NOWHERE", 1)
    path = tmp_path / "coding.yaml"
    path.write_text(bad)
    with pytest.raises(coding.CodingRulesError, match="NOWHERE"):
        coding.load_rules(path)


def test_a_duplicate_key_is_refused(tmp_path):
    path = tmp_path / "coding.yaml"
    path.write_text(coding.RULES_FILE.read_text() + "\nversion: 2\n")
    with pytest.raises(coding.CodingRulesError):
        coding.load_rules(path)


@pytest.mark.parametrize(("mg", "expected"), [(28, "G2082"), (56, "G2082"), (84, "G2083")])
def test_medicare_esketamine_by_dose_with_nothing_else(mg, expected):
    assert codes(esk(mg, companion_codes=("99213",))) == [(expected, 1)]


def test_commercial_esketamine_is_j0013_one_unit_per_mg_plus_the_payers_codes():
    assert codes(esk(84, "commercial", companion_codes=("99213",))) == [("J0013", 84), ("99213", 1)]
    assert codes(esk(56, "self_pay")) == [("J0013", 56)]


def test_before_2026_the_commercial_drug_code_was_s0013():
    assert codes(esk(56, "commercial", day=date(2025, 12, 31))) == [("S0013", 56)]


def test_no_dose_no_esketamine_line():
    assert esk(0) == []


def iv(minutes, **kw):
    return propose(
        VisitFacts(
            kind="treatment",
            service_date=DAY,
            drug="racemic_ketamine",
            route="iv",
            dose_mg=Decimal(35),
            infusion_minutes=minutes,
            ml_given=Decimal("0.7"),
            ndc="12345005010",
            **kw,
        )
    )


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (10, [("J3490", 1), ("96374", 1)]),
        (15, [("J3490", 1), ("96374", 1)]),
        (16, [("J3490", 1), ("96365", 1)]),
        (40, [("J3490", 1), ("96365", 1)]),
        (90, [("J3490", 1), ("96365", 1)]),
        (91, [("J3490", 1), ("96365", 1), ("96366", 1)]),
        (150, [("J3490", 1), ("96365", 1), ("96366", 1)]),
        (151, [("J3490", 1), ("96365", 1), ("96366", 2)]),
    ],
)
def test_iv_infusion_minute_rules(minutes, expected):
    assert codes(iv(minutes)) == expected


def test_j3490_carries_the_ndc_unit_and_quantity():
    drug = iv(40)[0]
    assert (drug.ndc, drug.ndc_unit, drug.ndc_quantity) == ("12345005010", "ML", Decimal("0.7"))


def test_im_ketamine_is_j3490_and_96372():
    lines = propose(
        VisitFacts(
            kind="treatment",
            service_date=DAY,
            drug="racemic_ketamine",
            route="im",
            dose_mg=Decimal(50),
        )
    )
    assert codes(lines) == [("J3490", 1), ("96372", 1)]


@pytest.mark.parametrize(("role", "code"), [("physician", "90792"), ("therapist", "90791")])
def test_the_consultation_code_follows_who_evaluated(role, code):
    (line,) = propose(VisitFacts(kind="consultation", service_date=DAY, provider_role=role))
    assert (line.code, line.units, line.held, line.source) == (code, 1, False, "CPT-PSYCH-EVAL")


@pytest.mark.parametrize("role", ["nurse", "admin", "front_desk", ""])
def test_a_consultation_by_anyone_else_is_held_for_the_biller(role):
    (line,) = propose(VisitFacts(kind="consultation", service_date=DAY, provider_role=role))
    assert (line.code, line.held) == ("", True)
    assert "choose 90792 or 90791" in line.note


def test_the_consultation_source_is_cited_in_the_rules():
    rules = coding.load_rules(coding.RULES_FILE)
    sources = {s["key"]: s["title"] for s in rules["sources"]}
    assert {e["source"] for e in rules["consultation"]["by_role"].values()} == {"CPT-PSYCH-EVAL"}
    assert "90791" in sources["CPT-PSYCH-EVAL"] and "https://" in sources["CPT-PSYCH-EVAL"]


def therapy(minutes, kind="integration"):
    return propose(VisitFacts(kind=kind, service_date=DAY, psychotherapy_minutes=minutes))


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (1, []),
        (15, []),  # under the lowest band: no psychotherapy code
        (16, [("90832", 1)]),
        (37, [("90832", 1)]),
        (38, [("90834", 1)]),
        (52, [("90834", 1)]),
        (53, [("90837", 1)]),
        (240, [("90837", 1)]),
    ],
)
def test_a_session_is_coded_from_its_documented_minutes_at_the_band_edges(minutes, expected):
    for kind in ("integration", "preparation"):
        lines = therapy(minutes, kind)
        assert codes(lines) == expected, (kind, minutes)
        assert all(not line.held and f"{minutes} min documented" in line.note for line in lines)


def test_a_session_without_documented_minutes_is_held_not_guessed():
    (line,) = therapy(None)
    assert (line.code, line.held, line.rule) == ("", True, "psychotherapy")
    assert "documents no psychotherapy minutes" in line.note


@pytest.mark.parametrize(
    ("minutes", "code"),
    [
        (15, None),
        (16, "90832"),
        (37, "90832"),
        (38, "90834"),
        (52, "90834"),
        (53, "90837"),
        (90, "90837"),
    ],
)
def test_psychotherapy_by_documented_minutes(minutes, code):
    assert psychotherapy_code(minutes) == code


def test_96127_once_per_standardized_instrument_not_for_monitoring_scales():
    lines = propose(
        VisitFacts(
            kind="integration",
            service_date=DAY,
            psychotherapy_minutes=50,
            instruments=("phq9", "gad7", "moaas", "cadss6"),
        )
    )
    assert codes(lines) == [("90834", 1), ("96127", 2)]


def test_pointers_come_from_the_coded_conditions():
    icd = coding.diagnosis_codes(
        ["F33.2", "F41.1", "F33.2", "F32.x", "", "F43.10", "G89.4", "F40.1"]
    )
    assert icd == ("F33.2", "F41.1", "F43.10", "G89.4", "F40.1")
    lines = propose(VisitFacts(kind="consultation", service_date=DAY, icd10=icd))
    assert lines[0].pointers == [1, 2, 3, 4]
    assert propose(VisitFacts(kind="consultation", service_date=DAY))[0].pointers == []


# --- properties of the minute rules ---------------------------------------------------


@given(st.integers(min_value=1, max_value=600))
def test_infusion_units_cover_the_time_by_the_midpoint_rule(minutes):
    found = dict(infusion_codes(minutes))
    if minutes <= 15:
        assert found == {"96374": 1}
        return
    assert found["96365"] == 1 and "96374" not in found
    extra = found.get("96366", 0)
    # Each added hour needs more than 30 minutes of its own beyond the first hour.
    assert 60 + (extra - 1) * 60 + 30 < minutes if extra else minutes <= 90
    assert minutes <= 60 + extra * 60 + 30


@given(st.integers(min_value=1, max_value=599))
def test_infusion_units_never_drop_as_time_grows(minutes):
    def units(m):
        return sum(u for _c, u in infusion_codes(m))

    assert units(minutes + 1) >= units(minutes)


@given(st.integers(min_value=0, max_value=300))
def test_psychotherapy_bands_are_contiguous_and_ordered(minutes):
    order = [None, "90832", "90834", "90837"]
    here, after = psychotherapy_code(minutes), psychotherapy_code(minutes + 1)
    assert order.index(after) - order.index(here) in (0, 1)
    assert (here is None) == (minutes < 16)


@given(st.decimals(min_value=1, max_value=112, places=0))
def test_medicare_esketamine_is_one_of_two_codes_split_at_56(mg):
    ((code, units),) = codes(esk(mg))
    assert units == 1 and code == ("G2082" if mg <= 56 else "G2083")
