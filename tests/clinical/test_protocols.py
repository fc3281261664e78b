"""Treatment protocols load, validate, carry DOMAIN.md's numbers, and refuse bad data."""

from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from ketaclinic.clinical.protocols import (
    Protocol,
    ProtocolError,
    load_protocol_file,
    load_protocols,
)
from ketaclinic.clinical.protocols.schema import KNOWN_SOURCES

SHIPPED = (
    "esketamine-nasal",
    "esketamine-nasal-mdsi",
    "ketamine-im-mood",
    "ketamine-iv-mood",
    "ketamine-iv-pain",
)


@pytest.fixture(scope="module")
def protocols() -> dict[str, Protocol]:
    return load_protocols()


def _data(protocols: dict[str, Protocol], code: str) -> dict[str, Any]:
    """Return a shipped protocol as plain data, ready to be broken in a test."""
    return copy.deepcopy(protocols[code].model_dump(mode="json"))


def _threshold(protocol: Protocol, rule_id: str) -> Any:
    return next(t for t in protocol.thresholds if t.id == rule_id)


# --- what ships ---------------------------------------------------------------------


def test_it_ships_the_five_protocols_each_with_a_version(protocols):
    assert sorted(protocols) == list(SHIPPED)
    for code, protocol in protocols.items():
        assert protocol.code == code
        assert protocol.family == code.removesuffix("-mdsi")
    assert {code: p.version for code, p in protocols.items()} == {
        "esketamine-nasal": 4,  # 2: 48 h apart; 3: issue 12; 4: hepatic observation
        "esketamine-nasal-mdsi": 2,  # 2: longer observation with moderate hepatic impairment
        "ketamine-im-mood": 2,
        "ketamine-iv-mood": 2,
        "ketamine-iv-pain": 2,
    }


def test_twice_weekly_esketamine_is_never_planned_on_consecutive_days(protocols):
    from ketaclinic.clinical.scheduling import series_rule

    rule = series_rule(protocols["esketamine-nasal"])
    assert (rule.sessions, rule.max_per_week, rule.min_hours) == (8, 2, 48)


def test_it_returns_a_fresh_dict_each_call(protocols):
    first = load_protocols()
    first.pop("esketamine-nasal")
    assert "esketamine-nasal" in load_protocols()


def _walk_sources(value: Any) -> list[str]:
    """Return every `source` string anywhere in a dumped protocol."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("source", "weight_bases_source") and isinstance(item, str):
                found.append(item)
            else:
                found.extend(_walk_sources(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_walk_sources(item))
    return found


@pytest.mark.parametrize("code", SHIPPED)
def test_every_source_in_the_shipped_files_is_a_domain_key_or_policy(protocols, code):
    sources = _walk_sources(_data(protocols, code))
    assert len(sources) > 40
    for source in sources:
        for key in source.split(","):
            assert key.strip() in KNOWN_SOURCES


def test_iv_mood_dose_matches_andrade_and_fava(protocols):
    protocol = protocols["ketamine-iv-mood"]
    dose = protocol.dose
    assert (dose.default_mg_per_kg.value, dose.default_mg_per_kg.source) == (
        Decimal("0.5"),
        "ANDRADE-2017, FAVA-2020",
    )
    assert dose.min_mg_per_kg.value == Decimal("0.1")
    assert dose.max_mg_per_kg.value == Decimal("1.0")
    assert (dose.hard_max_mg_per_kg.value, dose.hard_max_mg_per_kg.source) == (
        Decimal("1.0"),
        "policy",
    )
    assert dose.default_weight_basis == "actual"
    assert dose.weight_bases == ("actual", "ideal", "adjusted")
    assert (dose.adjusted_weight_factor.value, dose.adjusted_weight_factor.verify) == (
        Decimal("0.4"),
        True,
    )
    assert protocol.infusion_minutes.value == 40
    assert protocol.off_label is True


def test_iv_mood_induction_is_six_infusions_48_hours_apart(protocols):
    induction = protocols["ketamine-iv-mood"].phases[0]
    assert induction.kind == "induction"
    assert (induction.sessions.min, induction.sessions.max) == (6, 6)
    assert (induction.sessions_per_week.min, induction.sessions_per_week.max) == (2, 3)
    assert induction.min_hours_between_sessions.value == 48
    assert induction.min_hours_between_sessions.source == "policy"
    assert induction.max_span_days.value == 21


def test_esketamine_follows_the_label_schedule(protocols):
    protocol = protocols["esketamine-nasal"]
    dose = protocol.dose
    assert dose.kind == "fixed_mg"
    assert dose.allowed_doses_mg.values == (56, 84)
    assert dose.starting_dose_mg.value == 56
    assert dose.mg_per_device.value == 28
    assert dose.min_minutes_between_devices.value == 5
    induction, weeks_5_8, week_9_on = protocol.phases
    assert (induction.start_week, induction.end_week) == (1, 4)
    assert (induction.sessions_per_week.min, induction.sessions_per_week.max) == (2, 2)
    assert induction.first_dose_mg.value == 56
    assert (weeks_5_8.start_week, weeks_5_8.end_week, weeks_5_8.sessions_per_week.max) == (5, 8, 1)
    assert (week_9_on.start_week, week_9_on.end_week) == (9, None)
    assert (week_9_on.sessions_per_week.min, week_9_on.sessions_per_week.max) == (
        Decimal("0.5"),
        1,
    )
    assert protocol.fasting.no_food_hours.value == 2
    assert protocol.fasting.no_liquids_minutes.value == 30


def test_esketamine_observes_120_minutes_from_the_first_device(protocols):
    observation = protocols["esketamine-nasal"].discharge.observation
    assert (observation.minimum_minutes, observation.anchor) == (120, "first_dose")
    assert observation.source == "SPRAVATO-LABEL, SPRAVATO-REMS"


def test_iv_protocols_observe_30_minutes_after_the_infusion_ends(protocols):
    for code in ("ketamine-iv-mood", "ketamine-iv-pain"):
        observation = protocols[code].discharge.observation
        assert (observation.minimum_minutes, observation.anchor, observation.source) == (
            30,
            "infusion_end",
            "policy",
        )


def test_im_dose_is_marked_verify(protocols):
    dose = protocols["ketamine-im-mood"].dose
    assert (dose.min_mg_per_kg.value, dose.hard_max_mg_per_kg.value) == (
        Decimal("0.5"),
        Decimal("1.0"),
    )
    assert dose.min_mg_per_kg.verify and dose.hard_max_mg_per_kg.verify
    assert protocols["ketamine-im-mood"].infusion_minutes is None


def test_pain_dose_is_cohens_rate_over_four_hours(protocols):
    protocol = protocols["ketamine-iv-pain"]
    dose = protocol.dose
    assert protocol.infusion_minutes.value == 240
    # 0.35 mg/kg/h x 4 h = 1.4; 0.5 mg/kg/h x 4 h = 2.0; 2 mg/kg/h x 4 h = 8.0
    assert dose.min_mg_per_kg.value == Decimal("1.4")
    assert dose.default_mg_per_kg.value == Decimal("2.0")
    assert dose.hard_max_mg_per_kg.value == Decimal("8.0")
    assert dose.hard_max_mg_per_kg_per_hour.value == Decimal("2.0")
    assert (dose.min_total_mg.value, dose.min_total_mg.source) == (80, "COHEN-2018")


# DOMAIN §5: (rule id, signal, op, value, level) every shipped protocol carries.
DOMAIN_5_RULES = [
    ("sbp-elevated-pre", "systolic_bp", ">", 140, "caution"),
    ("dbp-elevated-pre", "diastolic_bp", ">", 90, "caution"),
    ("sbp-severe", "systolic_bp", ">=", 180, "high"),
    ("dbp-severe", "diastolic_bp", ">=", 110, "high"),
    ("hr-high", "heart_rate", ">", 110, "high"),
    ("hr-low", "heart_rate", "<", 50, "high"),
    ("spo2-low", "spo2", "<", 92, "high"),
    ("spo2-urgent", "spo2", "<", 88, "urgent"),
    ("rr-low", "respiratory_rate", "<", 10, "high"),
    ("moaas-sedation", "moaas", "<=", 3, "high"),
    ("moaas-urgent", "moaas", "<=", 1, "urgent"),
]


@pytest.mark.parametrize("code", SHIPPED)
@pytest.mark.parametrize(("rule_id", "signal", "op", "value", "level"), DOMAIN_5_RULES)
def test_every_protocol_carries_the_domain_thresholds(
    protocols, code, rule_id, signal, op, value, level
):
    rule = _threshold(protocols[code], rule_id)
    assert (rule.signal, rule.op, rule.value, rule.level) == (signal, op, value, level)


@pytest.mark.parametrize("code", SHIPPED)
def test_heart_rate_limits_are_marked_verify(protocols, code):
    assert _threshold(protocols[code], "hr-high").verify
    assert _threshold(protocols[code], "hr-low").verify


def test_iv_hypertension_alert_says_pause_the_infusion(protocols):
    rule = _threshold(protocols["ketamine-iv-mood"], "sbp-severe")
    assert rule.action == "pause the infusion, notify the physician"
    assert rule.phases == ("during",)


def test_esketamine_pre_dose_bp_caution_is_the_label_example_to_verify(protocols):
    rule = _threshold(protocols["esketamine-nasal"], "sbp-elevated-pre")
    assert (rule.source, rule.verify) == ("SPRAVATO-LABEL", True)


def test_every_hypotension_rule_is_clinic_policy_to_verify(protocols):
    # DOMAIN.md gives no lower BP limit: the rule is a clinic-editable policy default.
    for protocol in protocols.values():
        low = [t for t in protocol.thresholds if t.code == "hypotension"]
        assert [(t.signal, t.op, t.value, t.source, t.verify) for t in low] == [
            ("systolic_bp", "<", 90, "policy", True),
            ("diastolic_bp", "<", 60, "policy", True),
        ], protocol.code


def test_iv_monitoring_plan(protocols):
    vitals, moaas, cadss = protocols["ketamine-iv-mood"].monitoring.checks
    assert (vitals.kind, vitals.at_minutes, vitals.repeat_every_minutes) == (
        "vitals",
        (0, 10, 20, 30, 40),
        15,
    )
    assert (moaas.kind, moaas.at_minutes, moaas.before_discharge) == ("moaas", (0, 40), True)
    assert (cadss.kind, cadss.at_minutes, cadss.before_discharge) == ("cadss6", (0, 40), True)


def test_esketamine_monitoring_plan_has_the_three_bps(protocols):
    vitals = protocols["esketamine-nasal"].monitoring.checks[0]
    assert (vitals.at_minutes, vitals.repeat_every_minutes, vitals.before_discharge) == (
        (0, 40),
        None,
        True,
    )


def test_chair_minutes_add_up(protocols):
    assert protocols["ketamine-iv-mood"].total_chair_minutes == 15 + 40 + 30 + 15
    assert protocols["esketamine-nasal"].total_chair_minutes == 15 + 120 + 15
    assert protocols["ketamine-iv-pain"].total_chair_minutes == 15 + 240 + 30 + 15


def test_esketamine_instructions_forbid_driving_until_the_next_day(protocols):
    texts = [i.text for i in protocols["esketamine-nasal"].patient_instructions]
    assert "Do not drive or operate machinery until the next day, after a restful sleep." in texts


# --- checklist -------------------------------------------------------------------------


def test_rems_enrollment_is_a_hard_stop_only_for_esketamine(protocols):
    rems = next(c for c in protocols["esketamine-nasal"].checklist if c.id == "rems_enrolled")
    assert (rems.hard_stop, rems.source) == (True, "SPRAVATO-REMS")
    for code in ("ketamine-iv-mood", "ketamine-im-mood", "ketamine-iv-pain"):
        assert all(c.id != "rems_enrolled" for c in protocols[code].checklist)


def test_pregnancy_test_applies_only_when_pregnancy_is_possible(protocols):
    protocol = protocols["ketamine-iv-mood"]
    assert "pregnancy_test" not in [c.id for c in protocol.checklist_for()]
    ids = [c.id for c in protocol.checklist_for({"pregnancy_possible"})]
    assert "pregnancy_test" in ids
    assert ids[0] == "identity_confirmed"


def test_pain_checklist_asks_for_ecg_only_with_cardiovascular_risk(protocols):
    protocol = protocols["ketamine-iv-pain"]
    assert "ecg_reviewed" not in [c.id for c in protocol.checklist_for()]
    assert "ecg_reviewed" in [c.id for c in protocol.checklist_for({"cardiovascular_risk"})]


def test_checklist_for_refuses_an_unknown_condition(protocols):
    with pytest.raises(ValueError, match="unknown checklist condition"):
        protocols["ketamine-iv-mood"].checklist_for({"pregnant"})


def test_every_protocol_has_the_core_hard_stops(protocols):
    for protocol in protocols.values():
        hard = {c.id for c in protocol.checklist if c.hard_stop}
        assert {
            "identity_confirmed",
            "consent_valid",
            "eligibility_accepted",
            "escort_confirmed",
            "questionnaires_done_no_open_suicidality_alert",
            "predose_vitals_in_range",
        } <= hard


# --- schema refusals ------------------------------------------------------------------------


def _refuses(data: dict[str, Any], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        Protocol.model_validate(data)


def test_it_accepts_its_own_dump(protocols):
    for code in SHIPPED:
        assert (
            Protocol.model_validate(_data(protocols, code)).model_dump()
            == protocols[code].model_dump()
        )


def test_it_refuses_an_unknown_source_key(protocols):
    data = _data(protocols, "ketamine-iv-mood")
    data["dose"]["default_mg_per_kg"]["source"] = "ANDRADE-2071"
    _refuses(data, "unknown source key")


def test_it_refuses_a_number_without_a_source(protocols):
    data = _data(protocols, "ketamine-iv-mood")
    del data["dose"]["hard_max_mg_per_kg"]["source"]
    _refuses(data, "source")


def test_it_refuses_a_default_above_the_hard_maximum(protocols):
    data = _data(protocols, "ketamine-iv-mood")
    data["dose"]["default_mg_per_kg"]["value"] = "1.5"
    _refuses(data, "min_mg_per_kg <= default_mg_per_kg")


def test_it_refuses_undiluted_ketamine_for_iv(protocols):
    data = _data(protocols, "ketamine-iv-mood")
    data["preparation"]["concentrations_mg_per_ml"]["values"] = ["10", "100"]
    _refuses(data, "must be diluted before IV use")


def test_it_refuses_a_dose_step_the_syringe_cannot_measure(protocols):
    data = _data(protocols, "ketamine-iv-mood")
    data["dose"]["dose_step_mg"]["value"] = "0.5"  # 0.05 mL at 10 mg/mL
    _refuses(data, "not a whole number of 0.1 mL steps at 10 mg/mL")


def test_it_refuses_a_fixed_dose_that_is_not_whole_devices(protocols):
    data = _data(protocols, "esketamine-nasal")
    data["dose"]["allowed_doses_mg"]["values"] = ["56", "70"]
    _refuses(data, "not a whole number of devices")


def test_it_refuses_a_family_that_does_not_match_the_route(protocols):
    data = _data(protocols, "ketamine-iv-mood")
    data["family"] = "ketamine-im-mood"
    _refuses(data, "does not match drug")


def test_it_refuses_an_iv_protocol_without_infusion_minutes(protocols):
    data = _data(protocols, "ketamine-iv-mood")
    data["infusion_minutes"] = None
    _refuses(data, "infusion_minutes is required")


def test_it_refuses_a_hard_maximum_above_the_hourly_cap(protocols):
    data = _data(protocols, "ketamine-iv-pain")
    data["dose"]["hard_max_mg_per_kg"]["value"] = "8.5"
    data["dose"]["max_mg_per_kg"]["value"] = "8.5"
    _refuses(data, "exceeds hard_max_mg_per_kg_per_hour")


def test_it_refuses_repeated_threshold_ids(protocols):
    data = _data(protocols, "ketamine-iv-mood")
    data["thresholds"].append(copy.deepcopy(data["thresholds"][0]))
    _refuses(data, "repeated threshold id: sbp-elevated-pre")


def test_it_refuses_unknown_fields(protocols):
    data = _data(protocols, "ketamine-iv-mood")
    data["dose"]["maximum"] = "2"
    _refuses(data, "Extra inputs are not permitted")


def test_it_refuses_unsorted_check_minutes(protocols):
    data = _data(protocols, "ketamine-iv-mood")
    data["monitoring"]["checks"][0]["at_minutes"] = [0, 20, 10]
    _refuses(data, "ascending")


def test_it_refuses_infusion_end_observation_for_nasal_spray(protocols):
    data = _data(protocols, "esketamine-nasal")
    data["discharge"]["observation"]["anchor"] = "infusion_end"
    _refuses(data, "only an IV protocol")


# --- loader ------------------------------------------------------------------------------


def _write(directory: Path, name: str, data: dict[str, Any]) -> Path:
    directory.mkdir(exist_ok=True)
    path = directory / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_a_clinic_file_with_a_higher_version_replaces_the_shipped_one(protocols, tmp_path):
    data = _data(protocols, "ketamine-iv-mood")
    data["version"] = 9
    data["dose"]["hard_max_mg_per_kg"]["value"] = "0.75"
    data["dose"]["max_mg_per_kg"]["value"] = "0.75"
    _write(tmp_path / "clinic", "iv.yaml", data)
    loaded = load_protocols([tmp_path / "clinic"])
    assert loaded["ketamine-iv-mood"].version == 9
    assert loaded["ketamine-iv-mood"].dose.hard_max_mg_per_kg.value == Decimal("0.75")
    assert loaded["esketamine-nasal"].model_dump() == protocols["esketamine-nasal"].model_dump()


def test_a_clinic_file_may_not_replace_a_protocol_without_a_higher_version(protocols, tmp_path):
    _write(tmp_path / "clinic", "iv.yaml", _data(protocols, "ketamine-iv-mood"))
    with pytest.raises(ProtocolError, match="an override needs a higher version"):
        load_protocols([str(tmp_path / "clinic")])


def test_a_clinic_may_add_a_new_protocol(protocols, tmp_path):
    data = _data(protocols, "esketamine-nasal")
    data["code"] = "esketamine-nasal-eu-65"
    data["dose"]["allowed_doses_mg"]["values"] = ["28", "56", "84"]
    data["dose"]["starting_dose_mg"]["value"] = "28"
    _write(tmp_path / "clinic", "eu.yaml", data)
    loaded = load_protocols([tmp_path / "clinic"])
    assert loaded["esketamine-nasal-eu-65"].dose.allowed_doses_mg.values == (28, 56, 84)


def test_two_files_in_one_directory_may_not_define_one_code(protocols, tmp_path):
    data = _data(protocols, "ketamine-iv-mood")
    data["version"] = 9
    _write(tmp_path / "clinic", "a.yaml", data)
    _write(tmp_path / "clinic", "b.yaml", data)
    with pytest.raises(ProtocolError, match="two files define protocol 'ketamine-iv-mood'"):
        load_protocols([tmp_path / "clinic"])


def test_a_broken_file_names_its_path(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(ProtocolError) as excinfo:
        load_protocol_file(path)
    assert excinfo.value.path == path
    assert "one mapping" in excinfo.value.message


def test_a_file_that_fails_validation_names_its_path(protocols, tmp_path):
    data = _data(protocols, "ketamine-iv-mood")
    data["version"] = 0
    path = _write(tmp_path, "bad.yaml", data)
    with pytest.raises(ProtocolError, match="version") as excinfo:
        load_protocol_file(path)
    assert excinfo.value.path == path


def test_a_missing_extra_directory_is_an_error(tmp_path):
    with pytest.raises(ProtocolError, match="not a directory"):
        load_protocols([tmp_path / "nowhere"])
