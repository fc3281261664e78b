"""Issue 12 through the API: the pain and esketamine families decide the reviewed cases."""

from __future__ import annotations

import json
from datetime import date

import pytest

from ketaclinic.patients.models import Patient
from ketaclinic.screening.models import Screening

PAIN = {
    "diagnoses": ["crps"],
    "failed_adequate_trials": 0,
    "history": [],
    "medications": [],
    "systolic_bp": 126,
    "diastolic_bp": 80,
    "heart_rate": 70,
    "weight_kg": 70,
    "height_cm": 165,
    "suicide_risk": "none",
}
DEPRESSION = {**PAIN, "diagnoses": ["mdd"], "failed_adequate_trials": 3}


def screen(client, patient, protocol, facts):
    return client.post(
        f"/api/v1/patients/{patient.pk}/screenings",
        data=json.dumps({"protocol": protocol, "facts": facts}),
        content_type="application/json",
    )


def decisive(body):
    return [f["rule"] for f in body["findings"] if f["level"] != "info"]


@pytest.fixture
def born(clinic):
    def _make(year: int) -> Patient:
        return Patient.objects.create(
            clinic=clinic,
            mrn=f"MRN9{year}",
            given_name="Test",
            family_name=f"Born{year}",
            birth_date=date(year, 1, 5),
            sex_at_birth="male",
        )

    return _make


@pytest.mark.parametrize(
    ("changes", "decision", "rules"),
    [
        ({}, "eligible", []),
        (
            {"systolic_bp": 182, "diastolic_bp": 100},
            "ineligible",
            ["ivp-exclude-bp-180-110", "ivp-caution-bp-140-90"],
        ),
        ({"systolic_bp": 146, "diastolic_bp": 88}, "needs_review", ["ivp-caution-bp-140-90"]),
        (
            {"suicide_risk": "moderate"},
            "needs_review",
            ["ivp-caution-suicide-risk-moderate-or-high"],
        ),
        (
            {"history": ["ketamine_misuse_history"]},
            "needs_review",
            ["ivp-caution-substance-misuse-history"],
        ),
        ({"history": ["psychosis_history"]}, "needs_review", ["ivp-caution-psychosis-history"]),
        ({"history": ["hepatic_impairment_severe"]}, "ineligible", ["ivp-exclude-hepatic-severe"]),
        ({"systolic_bp": None}, "needs_review", []),
    ],
)
def test_the_pain_family_through_the_api(api_client, staff, patient, changes, decision, rules):
    response = screen(api_client(staff["nurse"]), patient, "ketamine-iv-pain", {**PAIN, **changes})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["decision"], decisive(body)) == (decision, rules)
    assert body["ruleset_version"] == 2
    assert Screening.objects.get(pk=body["id"]).ruleset_hash == body["ruleset_hash"] != ""
    if changes == {"systolic_bp": None}:
        assert body["missing"] == ["systolic_bp"]


def test_a_minor_is_ineligible_for_pain_infusions(api_client, staff, born, clinic):
    minor = born(clinic.today().year - 16)
    body = screen(api_client(staff["nurse"]), minor, "ketamine-iv-pain", PAIN).json()
    assert (body["decision"], decisive(body)) == ("ineligible", ["ivp-exclude-under-18"])


@pytest.mark.parametrize(
    ("changes", "decision", "rules"),
    [
        ({}, "eligible", []),
        ({"suicide_risk": "high"}, "needs_review", ["esk-caution-suicide-risk-moderate-or-high"]),
        ({"suicide_risk": "low"}, "eligible", []),
        (
            {"history": ["hepatic_impairment_moderate"]},
            "needs_review",
            ["esk-caution-hepatic-moderate"],
        ),
    ],
)
def test_the_esketamine_family_through_the_api(
    api_client, staff, patient, changes, decision, rules
):
    body = screen(
        api_client(staff["nurse"]), patient, "esketamine-nasal", {**DEPRESSION, **changes}
    ).json()
    assert (body["decision"], decisive(body)) == (decision, rules)
    assert body["ruleset_version"] == 3


def test_a_70_year_old_needs_review_for_esketamine(api_client, staff, born, clinic):
    older = born(clinic.today().year - 70)
    body = screen(api_client(staff["nurse"]), older, "esketamine-nasal", DEPRESSION).json()
    assert (body["decision"], decisive(body)) == ("needs_review", ["esk-caution-age-65-or-older"])
