"""A clinic's own knowledge files (KETACLINIC_DATA_DIR) take effect without code changes."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.django_db

STRICTER_RULES = """
family: ketamine-iv-mood
version: 7
title: Our clinic's stricter IV ketamine rules
sources:
  - key: policy
    title: Harbor Light medical director, 2026
rules:
  - id: harbor-exclude-age-over-75
    level: exclude
    when: {fact: age, gt: 75}
    message: Our clinic does not start ketamine after 75.
    source: policy
"""


def test_a_clinic_rule_file_with_a_higher_version_replaces_the_shipped_one(
    settings, tmp_path, api_client, staff, patient
):
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "ketamine-iv-mood.yaml").write_text(STRICTER_RULES)
    settings.KETACLINIC_DATA_DIR = str(tmp_path)
    patient.birth_date = patient.birth_date.replace(year=1940)
    patient.save()
    response = api_client(staff["physician"]).post(
        f"/api/v1/patients/{patient.pk}/screenings",
        json.dumps({"protocol": "ketamine-iv-mood", "facts": {}}),
        content_type="application/json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["ruleset_version"] == 7
    assert body["decision"] == "ineligible"
    assert [f["rule"] for f in body["findings"]] == ["harbor-exclude-age-over-75"]


def test_without_a_data_dir_the_shipped_rules_apply(api_client, staff, patient):
    response = api_client(staff["physician"]).post(
        f"/api/v1/patients/{patient.pk}/screenings",
        json.dumps({"protocol": "ketamine-iv-mood", "facts": {}}),
        content_type="application/json",
    )
    assert response.json()["ruleset_version"] == 1
