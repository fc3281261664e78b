"""POST /api/v1/dosing/calculate and GET /api/v1/protocols: hand-worked doses, refusals, roles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from tests import builders

pytestmark = pytest.mark.django_db

URL = "/api/v1/dosing/calculate"
# Yesterday at the clinic: a recent weight, never in the future.
FRESH = str(builders.clinic_today() - timedelta(days=1))


def calc(client, **body):
    return client.post(URL, body, content_type="application/json")


def test_it_calculates_the_best_studied_iv_dose_on_actual_weight(staff, api_client):
    # 0.5 mg/kg x 70 kg = 35 mg; 35 mg / 10 mg/mL = 3.5 mL; 3.5 mL / (40/60 h) = 5.25 mL/h.
    response = calc(
        api_client(staff["physician"]),
        protocol="ketamine-iv-mood",
        weight_kg=70,
        height_cm=165,
        sex_at_birth="female",
        weight_measured_on=FRESH,
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["dose_mg"] == 35
    assert body["weight_basis"] == "actual"
    assert body["weight_used_kg"] == 70
    assert body["infusion_minutes"] == 40
    assert body["volume_ml"] == 3.5
    assert body["rate_ml_per_h"] == 5.25
    assert body["devices"] is None
    assert body["warnings"] == []


def test_it_doses_on_devine_ideal_weight(staff, api_client):
    # 180 cm = 70.866 in; 50 + 2.3 x 10.866 = 74.99 kg; 0.5 x 74.99 = 37.495 -> 37 mg;
    # 3.7 mL; 3.7 x 60/40 = 5.55 mL/h.
    body = calc(
        api_client(staff["nurse"]),
        protocol="ketamine-iv-mood",
        weight_kg=70,
        height_cm=180,
        sex_at_birth="male",
        weight_basis="ideal",
        weight_measured_on=FRESH,
    ).json()
    assert (body["weight_used_kg"], body["dose_mg"], body["volume_ml"], body["rate_ml_per_h"]) == (
        74.99,
        37,
        3.7,
        5.55,
    )
    assert body["ideal_weight_kg"] == 74.99
    assert any("below ideal body weight" in w for w in body["warnings"])


def test_it_doses_on_adjusted_weight_at_one_mg_per_ml(staff, api_client):
    # 165 cm female: ideal 45.5 + 2.3 x 4.9606 = 56.91 kg; adjusted 56.91 + 0.4 x 33.09 = 70.15 kg;
    # 0.5 x 70.15 = 35.075 -> 35 mg; at 1 mg/mL 35.0 mL over 40 min = 52.5 mL/h.
    body = calc(
        api_client(staff["physician"]),
        protocol="ketamine-iv-mood",
        weight_kg=90,
        height_cm=165,
        sex_at_birth="female",
        weight_basis="adjusted",
        concentration_mg_per_ml=1,
        weight_measured_on=FRESH,
    ).json()
    assert (body["weight_used_kg"], body["dose_mg"], body["volume_ml"], body["rate_ml_per_h"]) == (
        70.15,
        35,
        35.0,
        52.5,
    )


def test_it_counts_esketamine_devices(staff, api_client):
    client = api_client(staff["physician"])
    first = calc(client, protocol="esketamine-nasal").json()
    assert (first["dose_mg"], first["devices"], first["volume_ml"]) == (56, 2, None)
    later = calc(client, protocol="esketamine-nasal", dose_mg=84).json()
    assert (later["dose_mg"], later["devices"]) == (84, 3)


def test_it_warns_when_the_weight_is_old(staff, api_client):
    body = calc(
        api_client(staff["physician"]),
        protocol="ketamine-iv-mood",
        weight_kg=70,
        weight_measured_on="2020-01-01",
    ).json()
    assert any("weigh the patient" in w for w in body["warnings"])


def test_it_refuses_dose_above_protocol_max_naming_the_field(staff, api_client):
    response = calc(
        api_client(staff["physician"]),
        protocol="ketamine-iv-mood",
        weight_kg=70,
        dose_mg_per_kg=1.2,
        weight_measured_on=FRESH,
    )
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "dose_mg_per_kg"]
    assert "above the protocol hard maximum of 1.0 mg/kg" in error["msg"]


def test_it_refuses_an_esketamine_dose_the_label_does_not_allow(staff, api_client):
    response = calc(api_client(staff["physician"]), protocol="esketamine-nasal", dose_mg=112)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "dose_mg"]


def test_it_refuses_an_impossible_weight(staff, api_client):
    response = calc(api_client(staff["nurse"]), protocol="ketamine-iv-mood", weight_kg=400)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "weight_kg"]


def test_it_refuses_an_unknown_protocol(staff, api_client):
    response = calc(api_client(staff["nurse"]), protocol="ketamine-oral", weight_kg=70)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "protocol"]


@pytest.mark.parametrize("role", ["therapist", "front_desk", "admin"])
def test_only_physicians_and_nurses_calculate_doses(role, staff, api_client):
    response = calc(api_client(staff[role]), protocol="ketamine-iv-mood", weight_kg=70)
    assert response.status_code == 403


def test_it_lists_the_loaded_protocols(staff, api_client):
    response = api_client(staff["front_desk"]).get("/api/v1/protocols")
    assert response.status_code == 200
    by_code = {p["code"]: p for p in response.json()}
    assert set(by_code) == {
        "esketamine-nasal",
        "esketamine-nasal-mdsi",
        "ketamine-im-mood",
        "ketamine-iv-mood",
        "ketamine-iv-pain",
    }
    iv = by_code["ketamine-iv-mood"]
    assert (iv["default_mg_per_kg"], iv["hard_max_mg_per_kg"], iv["chair_minutes"]) == (
        0.5,
        1.0,
        100,
    )
    assert iv["phases"][0] == {
        "code": "induction",
        "kind": "induction",
        "label": "Induction series",
        "sessions": 6,
        "min_hours_between_sessions": 48.0,
        "max_span_days": 21,
    }
    assert by_code["esketamine-nasal"]["allowed_doses_mg"] == [56.0, 84.0]


def test_it_calculates_a_four_hour_pain_infusion(staff, api_client):
    # 2.0 mg/kg x 70 kg = 140 mg; 14.0 mL at 10 mg/mL; 14.0 mL / 4 h = 3.5 mL/h.
    body = calc(
        api_client(staff["physician"]),
        protocol="ketamine-iv-pain",
        weight_kg=70,
        weight_measured_on=FRESH,
    ).json()
    assert (
        body["dose_mg"],
        body["volume_ml"],
        body["infusion_minutes"],
        body["rate_ml_per_h"],
    ) == (
        140,
        14.0,
        240,
        3.5,
    )


def test_an_im_dose_has_a_volume_and_no_pump_rate(staff, api_client):
    # 0.5 mg/kg x 80 kg = 40 mg; at 50 mg/mL 0.80 mL; no infusion.
    body = calc(
        api_client(staff["nurse"]),
        protocol="ketamine-im-mood",
        weight_kg=80,
        weight_measured_on=FRESH,
    ).json()
    assert (
        body["dose_mg"],
        body["volume_ml"],
        body["infusion_minutes"],
        body["rate_ml_per_h"],
    ) == (
        40,
        0.8,
        None,
        None,
    )


def test_it_dates_the_weight_by_the_clinics_calendar(staff, api_client, monkeypatch):
    # 03:00 UTC on 26 November is still 25 November, 22:00, in the clinic (New York).
    monkeypatch.setattr(timezone, "now", lambda: datetime(2026, 11, 26, 3, 0, tzinfo=UTC))
    client = api_client(staff["physician"])
    body = dict(protocol="ketamine-iv-mood", weight_kg=70)
    future = calc(client, **body, weight_measured_on="2026-11-26")
    assert future.status_code == 422
    assert "weight date 2026-11-26 is in the future" in str(future.json()["detail"])
    old = calc(client, **body, weight_measured_on="2026-10-25")
    assert old.status_code == 200
    assert old.json()["warnings"] == [
        "The weight was measured 31 days ago (on 2026-10-25), more than 30 days: weigh the patient."
    ]


def test_it_refuses_an_ideal_weight_dose_above_the_hard_maximum_on_actual_weight(staff, api_client):
    # 190 cm man, 60 kg: ideal 84.05 kg; 1.0 mg/kg x 84.05 = 84.05 mg = 1.401 mg/kg actual.
    response = calc(
        api_client(staff["physician"]),
        protocol="ketamine-iv-mood",
        weight_kg=60,
        height_cm=190,
        sex_at_birth="male",
        weight_basis="ideal",
        dose_mg_per_kg=1.0,
        weight_measured_on=FRESH,
    )
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "dose_mg_per_kg"]
    assert error["msg"] == (
        "1 mg/kg on 84.05 kg (ideal weight) is 84.05 mg, which is 1.401 mg/kg of actual "
        "weight 60 kg: above the protocol hard maximum of 1.0 mg/kg (policy)"
    )
