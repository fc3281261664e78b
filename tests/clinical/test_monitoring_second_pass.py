"""Low blood pressure, bradycardia, one alert per reading and code, escalation on recheck."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ketaclinic.clinical.monitoring import vital_alerts
from ketaclinic.clinical.protocols import load_protocols

PROTOCOLS = load_protocols()


@pytest.mark.parametrize("code", sorted(PROTOCOLS))
@pytest.mark.parametrize("phase", ["pre_dose", "during"])
def test_78_over_45_is_one_hypotension_alert_with_its_action(code, phase):
    alerts = vital_alerts(PROTOCOLS[code], {"systolic_bp": 78, "diastolic_bp": 45}, phase=phase)
    assert [(a.code, a.level, a.rule_id) for a in alerts] == [("hypotension", "high", "sbp-low")]
    message = alerts[0].message
    assert message.startswith(
        "Systolic BP 78 mmHg is below 90 mmHg and diastolic BP 45 mmHg is below 60 mmHg (high): "
    )
    assert "notify the physician and recheck BP." in message
    assert alerts[0].source == "policy [verify]"


@pytest.mark.parametrize("code", sorted(PROTOCOLS))
def test_a_heart_rate_of_38_is_a_bradycardia_alert(code):
    alerts = vital_alerts(PROTOCOLS[code], {"heart_rate": 38}, phase="during")
    assert [(a.code, a.level, a.value) for a in alerts] == [("bradycardia", "high", Decimal(38))]
    assert alerts[0].message.startswith("Heart rate 38 /min is below 50 /min (high): notify")


@pytest.mark.parametrize(
    ("reading", "expected"),
    [
        ({"systolic_bp": 90, "diastolic_bp": 60}, []),
        ({"systolic_bp": 89, "diastolic_bp": 60}, [("hypotension", "sbp-low")]),
        ({"systolic_bp": 95, "diastolic_bp": 59}, [("hypotension", "dbp-low")]),
        ({"heart_rate": 50}, []),
        ({"heart_rate": 49}, [("bradycardia", "hr-low")]),
    ],
)
def test_the_lower_limits_are_exact(reading, expected):
    alerts = vital_alerts(PROTOCOLS["ketamine-iv-mood"], reading, phase="during")
    assert [(a.code, a.rule_id) for a in alerts] == expected


def test_a_bp_above_both_limits_is_one_hypertension_alert():
    alerts = vital_alerts(
        PROTOCOLS["ketamine-iv-mood"], {"systolic_bp": 186, "diastolic_bp": 114}, phase="during"
    )
    assert [(a.code, a.level) for a in alerts] == [("hypertension", "high")]
    assert alerts[0].message == (
        "Systolic BP 186 mmHg is at or above 180 mmHg and diastolic BP 114 mmHg is at or above "
        "110 mmHg (high): pause the infusion, notify the physician."
    )


def test_persistent_hypertension_on_the_recheck_is_raised_to_urgent():
    protocol = PROTOCOLS["esketamine-nasal"]
    first = vital_alerts(protocol, {"systolic_bp": 184, "diastolic_bp": 100}, phase="during")
    assert [(a.level, a.escalated) for a in first] == [("high", False)]
    recheck = vital_alerts(
        protocol,
        {"systolic_bp": 182, "diastolic_bp": 100},
        phase="during",
        persisting={"hypertension"},
    )
    assert [(a.code, a.level, a.escalated) for a in recheck] == [("hypertension", "urgent", True)]
    assert "still on the recheck (high raised to urgent; physician notified again)" in (
        recheck[0].message
    )


def test_a_recheck_back_in_range_raises_nothing():
    protocol = PROTOCOLS["esketamine-nasal"]
    assert (
        vital_alerts(
            protocol,
            {"systolic_bp": 150, "diastolic_bp": 88},
            phase="during",
            persisting={"hypertension"},
        )
        == []
    )


def test_a_persisting_alert_without_escalation_keeps_its_level():
    protocol = PROTOCOLS["ketamine-iv-mood"]
    alerts = vital_alerts(protocol, {"heart_rate": 40}, phase="during", persisting={"bradycardia"})
    assert [(a.code, a.level, a.escalated) for a in alerts] == [("bradycardia", "high", False)]


@pytest.mark.parametrize("code", sorted(PROTOCOLS))
def test_discharge_needs_the_respiratory_rate(code):
    assert "respiratory_rate" in PROTOCOLS[code].discharge.vitals_in_range.signals
