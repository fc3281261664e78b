"""Session monitoring: plausibility, alert boundaries, due checks, discharge, device spacing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from ketaclinic.clinical.monitoring import (
    VitalError,
    check_plausible,
    device_spacing_warnings,
    discharge_check,
    due_checks,
    earliest_discharge_at,
    vital_alerts,
)
from ketaclinic.clinical.protocols import load_protocols

PROTOCOLS = load_protocols()
IV = PROTOCOLS["ketamine-iv-mood"]
SPRAY = PROTOCOLS["esketamine-nasal"]
IM = PROTOCOLS["ketamine-im-mood"]
START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    """Return the time ``minutes`` after dose start (10:00 UTC)."""
    return START + timedelta(minutes=minutes)


# --- plausibility ------------------------------------------------------------------------------

# (field, lowest plausible, highest plausible, just outside below, just outside above)
PLAUSIBLE = [
    ("systolic_bp", 50, 300, Decimal("49.9"), Decimal("300.1")),
    ("diastolic_bp", 20, 200, Decimal("19.9"), Decimal("200.1")),
    ("heart_rate", 20, 250, 19, 251),
    ("spo2", 50, 100, 49, Decimal("100.1")),
    ("respiratory_rate", 4, 60, 3, 61),
    ("temperature_c", 30, 45, Decimal("29.9"), Decimal("45.1")),
    ("moaas", 0, 5, -1, 6),
    ("cadss6", 0, 24, -1, 25),
]


@pytest.mark.parametrize(("field", "low", "high", "below", "above"), PLAUSIBLE)
def test_plausible_boundaries_are_inclusive(field, low, high, below, above):
    # systolic_bp alone: no diastolic to compare with; diastolic 200 needs no systolic either.
    check_plausible({field: low})
    check_plausible({field: high})
    for bad in (below, above):
        with pytest.raises(VitalError) as excinfo:
            check_plausible({field: bad})
        assert excinfo.value.field == field
        assert "is not plausible" in excinfo.value.message


def test_systolic_must_be_above_diastolic():
    check_plausible({"systolic_bp": 121, "diastolic_bp": 120})
    with pytest.raises(VitalError) as excinfo:
        check_plausible({"systolic_bp": 120, "diastolic_bp": 120})
    assert excinfo.value.field == "systolic_bp"


def test_moaas_must_be_a_whole_number():
    with pytest.raises(VitalError) as excinfo:
        check_plausible({"moaas": 2.5})
    assert excinfo.value.field == "moaas"


@pytest.mark.parametrize("value", [True, "120", float("nan")])
def test_a_value_must_be_a_finite_number(value):
    with pytest.raises(VitalError) as excinfo:
        check_plausible({"heart_rate": value})
    assert excinfo.value.field == "heart_rate"


def test_an_unknown_field_is_refused_so_a_typo_cannot_skip_a_check():
    with pytest.raises(VitalError) as excinfo:
        check_plausible({"systolic": 250})
    assert excinfo.value.field == "systolic"


def test_none_means_not_measured():
    check_plausible({"systolic_bp": 120, "diastolic_bp": None, "spo2": None})


# --- alert boundaries ----------------------------------------------------------------------------


def _codes(protocol, reading, phase="during"):
    return [(a.code, a.level) for a in vital_alerts(protocol, reading, phase=phase)]


@pytest.mark.parametrize(
    ("reading", "expected"),
    [
        ({"systolic_bp": 179}, []),
        ({"systolic_bp": 180}, [("hypertension", "high")]),
        ({"diastolic_bp": 109}, []),
        ({"diastolic_bp": 110}, [("hypertension", "high")]),
        ({"heart_rate": 110}, []),
        ({"heart_rate": 111}, [("tachycardia", "high")]),
        ({"heart_rate": 50}, []),
        ({"heart_rate": 49}, [("bradycardia", "high")]),
        ({"spo2": 92}, []),
        ({"spo2": 91}, [("desaturation", "high")]),
        ({"spo2": 88}, [("desaturation", "high")]),
        ({"spo2": 87}, [("desaturation", "urgent")]),
        ({"respiratory_rate": 10}, []),
        ({"respiratory_rate": 9}, [("bradypnea", "high")]),
        ({"moaas": 4}, []),
        ({"moaas": 3}, [("sedation", "high")]),
        ({"moaas": 2}, [("sedation", "high")]),
        ({"moaas": 1}, [("sedation", "urgent")]),
        ({"moaas": 0}, [("sedation", "urgent")]),
        # During a session the pre-dose 140/90 caution does not apply.
        ({"systolic_bp": 170, "diastolic_bp": 100}, []),
        ({"temperature_c": 39}, []),
    ],
)
@pytest.mark.parametrize("protocol", [IV, SPRAY, IM], ids=lambda p: p.code)
def test_during_session_thresholds(protocol, reading, expected):
    assert _codes(protocol, reading) == expected


@pytest.mark.parametrize(
    ("reading", "expected"),
    [
        ({"systolic_bp": 140}, []),
        ({"systolic_bp": 141}, [("hypertension", "caution")]),
        ({"diastolic_bp": 90}, []),
        ({"diastolic_bp": 91}, [("hypertension", "caution")]),
        ({"systolic_bp": 179}, [("hypertension", "caution")]),
        # 180 crosses both the caution and the severe rule: only the severe one is returned.
        ({"systolic_bp": 180}, [("hypertension", "high")]),
        ({"diastolic_bp": 110}, [("hypertension", "high")]),
        ({"heart_rate": 111}, [("tachycardia", "high")]),
        ({"spo2": 87}, [("desaturation", "urgent")]),
    ],
)
def test_pre_dose_thresholds(reading, expected):
    assert _codes(IV, reading, phase="pre_dose") == expected


def test_an_iv_hypertension_alert_carries_the_protocol_action():
    (alert,) = vital_alerts(IV, {"systolic_bp": 182, "diastolic_bp": 96}, phase="during")
    assert alert.message == (
        "Systolic BP 182 mmHg is at or above 180 mmHg (high): pause the infusion, notify the physician."
    )
    assert (alert.signal, alert.value, alert.rule_id, alert.source) == (
        "systolic_bp",
        Decimal("182"),
        "sbp-severe",
        "policy",
    )


def test_a_pre_dose_severe_bp_says_do_not_start():
    (alert,) = vital_alerts(IV, {"systolic_bp": 185}, phase="pre_dose")
    assert alert.message.endswith("(high): do not start the infusion; notify the physician.")


def test_esketamine_pre_dose_caution_names_the_label_source_to_verify():
    (alert,) = vital_alerts(SPRAY, {"systolic_bp": 150, "diastolic_bp": 85}, phase="pre_dose")
    assert (alert.level, alert.source) == ("caution", "SPRAVATO-LABEL [verify]")


def test_heart_rate_alert_source_is_marked_verify():
    (alert,) = vital_alerts(IV, {"heart_rate": 120}, phase="during")
    assert alert.source == "policy [verify]"


def test_spo2_message_reads_naturally():
    (alert,) = vital_alerts(IV, {"spo2": 85}, phase="during")
    assert alert.message == (
        "SpO2 85% is below 88% (urgent): stop the infusion, call the physician now, support the airway."
    )


def test_alerts_come_most_severe_first_and_one_per_code():
    reading = {"systolic_bp": 190, "diastolic_bp": 115, "spo2": 85, "moaas": 3}
    assert [(a.code, a.signal, a.level) for a in vital_alerts(IV, reading, phase="during")] == [
        ("desaturation", "spo2", "urgent"),
        ("hypertension", "systolic_bp", "high"),
        ("sedation", "moaas", "high"),
    ]


def test_alerts_refuse_an_implausible_reading():
    with pytest.raises(VitalError):
        vital_alerts(IV, {"systolic_bp": 400}, phase="during")


def test_alerts_refuse_an_unknown_phase():
    with pytest.raises(ValueError, match="phase"):
        vital_alerts(IV, {"systolic_bp": 120}, phase="after")


# --- due checks: IV --------------------------------------------------------------------------------


def _due(protocol, done, now, infusion_ended_at=None):
    return [
        (d.kind, d.label, d.due_at, d.overdue)
        for d in due_checks(
            protocol,
            dose_started_at=START,
            infusion_ended_at=infusion_ended_at,
            done=done,
            now=now,
        )
    ]


def _next_vitals(protocol, done, now):
    """Return the first due vitals check as (kind, label, due_at, overdue)."""
    return next(d for d in _due(protocol, done, now) if d[0] == "vitals")


def test_iv_before_anything_is_taken_the_baselines_are_due():
    # Earliest discharge = 10:00 + 40 min infusion + 30 min = 11:10.
    assert _due(IV, [], at(-5)) == [
        ("vitals", "Baseline BP/HR/SpO2", at(0), False),
        ("moaas", "Baseline MOAA/S", at(0), False),
        ("cadss6", "Baseline CADSS-6", at(0), False),
        ("vitals", "BP/HR/SpO2 before discharge", at(70), False),
        ("moaas", "MOAA/S before discharge", at(70), False),
        ("cadss6", "CADSS-6 before discharge", at(70), False),
    ]


def test_iv_a_baseline_up_to_30_minutes_before_start_counts():
    assert _next_vitals(IV, [("vitals", at(-30))], at(0))[:2] == ("vitals", "10-minute BP/HR/SpO2")
    assert _next_vitals(IV, [("vitals", at(-31))], at(0))[:2] == ("vitals", "Baseline BP/HR/SpO2")


def test_iv_a_check_becomes_overdue_after_the_five_minute_grace():
    done = [("vitals", at(0)), ("moaas", at(0)), ("cadss6", at(0))]
    (first, *_) = due_checks(IV, dose_started_at=START, done=done, now=at(15))
    assert (first.label, first.due_at, first.overdue, first.minute) == (
        "10-minute BP/HR/SpO2",
        at(10),
        False,
        10,
    )
    (first, *_) = due_checks(
        IV, dose_started_at=START, done=done, now=at(15) + timedelta(seconds=1)
    )
    assert first.overdue is True


def test_iv_a_reading_up_to_five_minutes_early_counts():
    assert _next_vitals(IV, [("vitals", at(5))], at(6))[1] == "20-minute BP/HR/SpO2"
    assert _next_vitals(IV, [("vitals", at(4.9))], at(6))[1] == "10-minute BP/HR/SpO2"


def test_iv_missed_checks_collapse_into_the_next_one():
    # Nothing at 10 or 20 minutes: only the 10-minute check is asked for, overdue.
    assert _next_vitals(IV, [("vitals", at(0))], at(22)) == (
        "vitals",
        "10-minute BP/HR/SpO2",
        at(10),
        True,
    )
    # A reading at 33 minutes covers 10, 20 and 30 (30 - 5 <= 33): the 40-minute is next.
    assert _next_vitals(IV, [("vitals", at(0)), ("vitals", at(33))], at(34))[:3] == (
        "vitals",
        "40-minute BP/HR/SpO2",
        at(40),
    )


def test_iv_vitals_repeat_every_15_minutes_after_the_infusion():
    assert _next_vitals(IV, [("vitals", at(40))], at(41))[:3] == (
        "vitals",
        "55-minute BP/HR/SpO2",
        at(55),
    )
    assert _next_vitals(IV, [("vitals", at(52))], at(53))[:3] == (
        "vitals",
        "70-minute BP/HR/SpO2",
        at(70),
    )
    assert _next_vitals(IV, [("vitals", at(100))], at(101))[:3] == (
        "vitals",
        "115-minute BP/HR/SpO2",
        at(115),
    )


def test_iv_before_discharge_checks_follow_the_actual_infusion_end():
    done = [("moaas", at(0)), ("moaas", at(40))]
    moaas = [d for d in _due(IV, done, at(50), infusion_ended_at=at(45)) if d[0] == "moaas"]
    # Infusion ended at 10:45 (paused 5 minutes): discharge earliest 11:15.
    assert moaas == [("moaas", "MOAA/S before discharge", at(75), False)]
    done.append(("moaas", at(70)))  # 75 - 5 = 70: counts
    assert [d for d in _due(IV, done, at(71), infusion_ended_at=at(45)) if d[0] == "moaas"] == []


def test_before_discharge_checks_are_never_flagged_overdue():
    done = [("moaas", at(0)), ("moaas", at(40))]
    moaas = [d for d in _due(IV, done, at(300), infusion_ended_at=at(40)) if d[0] == "moaas"]
    assert moaas == [("moaas", "MOAA/S before discharge", at(70), False)]


# --- due checks: esketamine ---------------------------------------------------------------------


def test_esketamine_plan_is_pre_dose_40_minutes_and_before_discharge():
    done = [("vitals", at(-10))]
    assert _due(SPRAY, done, at(1)) == [
        ("vitals", "40-minute BP/HR/SpO2", at(40), False),
        ("moaas", "40-minute MOAA/S", at(40), False),
        ("cadss6", "40-minute CADSS-6", at(40), False),
        ("vitals", "BP/HR/SpO2 before discharge", at(120), False),
        ("moaas", "MOAA/S before discharge", at(120), False),
        ("cadss6", "CADSS-6 before discharge", at(120), False),
    ]


def test_esketamine_40_minute_check_is_overdue_after_45_minutes():
    due = _due(SPRAY, [("vitals", at(-10))], at(46))
    assert due[0] == ("vitals", "40-minute BP/HR/SpO2", at(40), True)


def test_esketamine_has_no_timed_vitals_after_the_40_minute_bp():
    due = _due(SPRAY, [("vitals", at(-10)), ("vitals", at(41))], at(60))
    assert [d[1] for d in due if d[0] == "vitals"] == ["BP/HR/SpO2 before discharge"]


def test_earliest_discharge_for_esketamine_counts_from_the_first_device():
    assert earliest_discharge_at(SPRAY, dose_started_at=START) == at(120)


def test_due_checks_refuse_naive_times():
    with pytest.raises(ValueError, match="timezone-aware"):
        due_checks(IV, dose_started_at=datetime(2026, 3, 2, 10), done=[], now=at(0))
    with pytest.raises(ValueError, match="timezone-aware"):
        due_checks(IV, dose_started_at=START, done=[("vitals", datetime(2026, 3, 2))], now=at(0))


def test_due_checks_refuse_an_unknown_kind():
    with pytest.raises(ValueError, match="no check of kind 'bp'"):
        due_checks(IV, dose_started_at=START, done=[("bp", at(0))], now=at(0))


# --- discharge --------------------------------------------------------------------------------------

GOOD_VITALS = {
    "systolic_bp": 135,
    "diastolic_bp": 85,
    "heart_rate": 80,
    "spo2": 97,
    "respiratory_rate": 14,
}


def _discharge(protocol, **overrides):
    now = overrides.get("now", at(120) if protocol.route != "iv" else at(70))
    kwargs = {
        "first_dose_at": START,
        "infusion_ended_at": at(40) if protocol.route == "iv" else None,
        "dose_ended_at": at(40) if protocol.route == "iv" else at(5),
        "now": now,
        "last_moaas": 5,
        "last_moaas_at": now,
        "last_cadss6_at": now,
        "dissociation_resolved": True,
        "last_vitals": GOOD_VITALS,
        "last_vitals_at": now,
        "respiratory_depression": False,
        "walks_steadily": True,
        "escort_present": True,
    }
    kwargs.update(overrides)
    return [(u.code, u.message) for u in discharge_check(protocol, **kwargs)]


def test_esketamine_may_discharge_at_120_minutes_from_the_first_device():
    assert _discharge(SPRAY, now=at(120)) == []


def test_esketamine_may_not_discharge_at_119_minutes():
    assert _discharge(SPRAY, now=at(119)) == [
        (
            "observation_time",
            "Observed 119 of 120 minutes since the first dose; earliest discharge at 12:00.",
        )
    ]


def test_the_earliest_discharge_reads_in_the_zone_of_now_with_the_date_when_not_today():
    from zoneinfo import ZoneInfo

    new_york = at(119).astimezone(ZoneInfo("America/New_York"))
    assert _discharge(SPRAY, now=new_york)[0][1].endswith("earliest discharge at 07:00.")
    late = START.replace(hour=23, minute=30)
    message = _discharge(SPRAY, first_dose_at=late, now=late + timedelta(minutes=5))[0][1]
    assert message.endswith("earliest discharge at 01:30 on 3 Mar.")


def test_esketamine_119_minutes_59_seconds_is_still_too_early():
    unmet = _discharge(SPRAY, now=at(120) - timedelta(seconds=1))
    assert [code for code, _ in unmet] == ["observation_time"]


def test_iv_may_discharge_30_minutes_after_the_infusion_ends():
    assert _discharge(IV, infusion_ended_at=at(40), now=at(70)) == []
    assert _discharge(IV, infusion_ended_at=at(40), now=at(69)) == [
        (
            "observation_time",
            "Observed 29 of 30 minutes since the infusion ended; earliest discharge at 11:10.",
        )
    ]


def test_iv_may_not_discharge_before_the_infusion_end_is_recorded():
    assert _discharge(IV, infusion_ended_at=None, now=at(200)) == [
        (
            "observation_time",
            "The infusion has not ended; observation lasts 30 minutes after it ends.",
        )
    ]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"last_moaas": 4}, ("sedation", "MOAA/S is 4; 5 (fully alert) is required.")),
        (
            {"last_moaas": None, "last_moaas_at": None},
            ("sedation", "MOAA/S: not recorded since the dose ended."),
        ),
        ({"dissociation_resolved": False}, ("dissociation", "Dissociation not resolved.")),
        ({"dissociation_resolved": None}, ("dissociation", "Dissociation not assessed.")),
        ({"walks_steadily": False}, ("gait", "Walking not steady.")),
        ({"walks_steadily": None}, ("gait", "Walking not assessed.")),
        ({"escort_present": False}, ("escort", "No escort is present to take the patient home.")),
        ({"escort_present": None}, ("escort", "No escort is present to take the patient home.")),
        (
            {"last_vitals": None, "last_vitals_at": None},
            ("vitals", "Vital signs: not recorded since the dose ended."),
        ),
        (
            {"last_cadss6_at": None},
            ("dissociation", "CADSS-6: not recorded since the dose ended."),
        ),
        (
            {"respiratory_depression": True},
            (
                "respiratory_depression",
                "Respiratory depression was recorded in this session: a physician reviews the "
                "patient before discharge.",
            ),
        ),
        (
            {"last_vitals": {"systolic_bp": 135, "diastolic_bp": 85, "heart_rate": 80}},
            ("vitals", "Not recorded before discharge: SpO2, Respiratory rate."),
        ),
        (
            {"last_vitals": {**GOOD_VITALS, "systolic_bp": 180}},
            (
                "vitals",
                "Systolic BP 180 mmHg is at or above 180 mmHg (high): give no further device, "
                "notify the physician, recheck BP until it is back in range.",
            ),
        ),
        (
            {"last_vitals": {**GOOD_VITALS, "diastolic_bp": 110}},
            (
                "vitals",
                "Diastolic BP 110 mmHg is at or above 110 mmHg (high): give no further device, "
                "notify the physician, recheck BP until it is back in range.",
            ),
        ),
        (
            {"last_vitals": {**GOOD_VITALS, "heart_rate": 111}},
            ("vitals", "Heart rate 111 /min is above 110 /min (high): notify the physician."),
        ),
        (
            {"last_vitals": {**GOOD_VITALS, "spo2": 91}},
            (
                "vitals",
                "SpO2 91% is below 92% (high): notify the physician, check airway and breathing "
                "(respiratory depression).",
            ),
        ),
        (
            {"last_vitals": {**GOOD_VITALS, "respiratory_rate": 9}},
            (
                "vitals",
                "Respiratory rate 9 /min is below 10 /min (high): notify the physician, check "
                "airway and breathing (respiratory depression).",
            ),
        ),
    ],
)
def test_each_discharge_criterion_blocks_on_its_own(overrides, expected):
    assert _discharge(SPRAY, **overrides) == [expected]


def test_discharge_accepts_bp_just_below_the_alert_range():
    vitals = {**GOOD_VITALS, "systolic_bp": 179, "diastolic_bp": 109}
    assert _discharge(SPRAY, last_vitals=vitals) == []


def test_discharge_reads_sedation_from_last_moaas_not_from_the_vitals():
    assert _discharge(SPRAY, last_vitals={**GOOD_VITALS, "moaas": 3}) == []


def test_discharge_lists_every_unmet_criterion_in_order():
    unmet = _discharge(
        SPRAY,
        now=at(90),
        last_moaas=4,
        dissociation_resolved=False,
        last_vitals=None,
        last_vitals_at=None,
        respiratory_depression=True,
        walks_steadily=False,
        escort_present=False,
    )
    assert [code for code, _ in unmet] == [
        "observation_time",
        "sedation",
        "dissociation",
        "vitals",
        "respiratory_depression",
        "gait",
        "escort",
    ]


def test_readings_taken_before_the_dose_ended_do_not_count():
    """An IV patient whose MOAA/S and vitals were only taken before the infusion ended."""
    unmet = _discharge(IV, last_moaas_at=at(-5), last_vitals_at=at(39))
    assert unmet == [
        ("sedation", "MOAA/S: last recorded before the dose ended; record again."),
        ("vitals", "Vital signs: last recorded before the dose ended; record again."),
    ]


def test_readings_count_for_the_protocols_window_and_no_longer():
    valid = IV.discharge.readings_valid_minutes
    assert (valid.value, valid.source) == (15, "policy")
    now = at(125)
    assert _discharge(IV, now=now, last_vitals_at=now - timedelta(minutes=15)) == []
    assert _discharge(IV, now=now, last_vitals_at=now - timedelta(minutes=55)) == [
        (
            "vitals",
            "Vital signs: last recorded 55 minutes ago; they count for 15 minutes, record again.",
        )
    ]


def test_the_before_discharge_check_must_be_taken_once_observation_ends():
    """Esketamine: a MOAA/S at 100 minutes is recent at 112 but not the before-discharge one."""
    unmet = _discharge(SPRAY, now=at(120), last_moaas_at=at(105))
    assert unmet == [
        (
            "sedation",
            "MOAA/S: the before-discharge check is still due (the last was taken before the "
            "minimum observation ended).",
        )
    ]
    assert _discharge(SPRAY, now=at(120), last_moaas_at=at(115)) == []


def test_the_incident_iv_discharge_lists_every_stale_or_missing_check():
    """MOAA/S only before the dose, no CADSS-6, vitals 55 minutes old, respiratory depression."""
    now = at(125)
    unmet = _discharge(
        IV,
        now=now,
        last_moaas_at=at(-5),
        last_cadss6_at=None,
        last_vitals_at=now - timedelta(minutes=55),
        respiratory_depression=True,
    )
    assert [code for code, _ in unmet] == [
        "sedation",
        "dissociation",
        "vitals",
        "respiratory_depression",
    ]


def test_discharge_refuses_an_implausible_moaas():
    with pytest.raises(VitalError):
        _discharge(SPRAY, last_moaas=7)


def test_discharge_refuses_a_time_before_the_first_dose():
    with pytest.raises(ValueError, match="before the first dose"):
        _discharge(SPRAY, now=at(-1))


# --- device spacing -----------------------------------------------------------------------------------


def test_devices_five_minutes_apart_raise_no_warning():
    assert device_spacing_warnings([at(0), at(5), at(10)], protocol=SPRAY) == []


def test_a_device_under_five_minutes_after_the_last_is_warned():
    warnings = device_spacing_warnings(
        [at(0), at(5), at(9) + timedelta(seconds=59)], protocol=SPRAY
    )
    assert warnings == [
        "Device 3 was given 4 min 59 s after device 2; wait at least 5 minutes between "
        "devices (SPRAVATO-LABEL)."
    ]


def test_device_times_are_taken_in_time_order():
    warnings = device_spacing_warnings([at(4), at(0)], protocol=SPRAY)
    assert warnings == [
        "Device 2 was given 4 min 0 s after device 1; wait at least 5 minutes between "
        "devices (SPRAVATO-LABEL)."
    ]


def test_one_device_needs_no_spacing():
    assert device_spacing_warnings([at(0)], protocol=SPRAY) == []


def test_device_spacing_is_only_for_device_protocols():
    with pytest.raises(ValueError, match="not a device-based protocol"):
        device_spacing_warnings([at(0)], protocol=IV)
