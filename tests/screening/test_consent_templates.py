"""A clinic's own consent templates (KETACLINIC_DATA_DIR/consent_templates) take effect."""

from __future__ import annotations

import json

import pytest

from ketaclinic.screening.consent import TemplateError, load_templates
from ketaclinic.screening.models import Consent

pytestmark = pytest.mark.django_db

CLINIC_TEMPLATE = """---
family: ketamine-iv-mood
version: {version}
title: Harbor Light consent to IV ketamine
off_label: true
rems: false
risks:
  - id: off_label
    text: I understand this use of ketamine is off-label.
  - id: ride_home
    text: An adult will take me home.
---
# Consent to IV ketamine at **{{{{ clinic_name }}}}**

Ketamine for depression is an off-label use.
"""


def write(tmp_path, version: int, text: str | None = None) -> None:
    folder = tmp_path / "consent_templates"
    folder.mkdir(exist_ok=True)
    (folder / "ketamine-iv-mood.md").write_text(text or CLINIC_TEMPLATE.format(version=version))


def test_a_clinic_template_with_a_higher_version_is_offered_and_signed(
    settings, tmp_path, api_client, staff, patient
):
    write(tmp_path, 2)
    settings.KETACLINIC_DATA_DIR = str(tmp_path)
    nurse = api_client(staff["nurse"])
    templates = {t["family"]: t for t in nurse.get("/api/v1/consent-templates").json()}
    assert (templates["ketamine-iv-mood"]["version"], templates["ketamine-iv-mood"]["title"]) == (
        2,
        "Harbor Light consent to IV ketamine",
    )
    assert templates["esketamine-nasal"]["version"] == 1  # the shipped one still applies
    response = nurse.post(
        f"/api/v1/patients/{patient.pk}/consents",
        json.dumps(
            {
                "template": "ketamine-iv-mood",
                "signed_name": "Maria Garcia",
                "acknowledgements": ["off_label", "ride_home"],
            }
        ),
        content_type="application/json",
    )
    assert response.status_code == 201
    consent = Consent.objects.get()
    assert consent.template_version == 2
    assert "Consent to IV ketamine at **Harbor Light**" in consent.text


def test_a_clinic_template_with_a_version_not_higher_is_ignored(settings, tmp_path):
    write(tmp_path, 1)
    settings.KETACLINIC_DATA_DIR = str(tmp_path)
    assert load_templates()["ketamine-iv-mood"].title == (
        "Consent to intravenous ketamine for depression or a related condition"
    )


def test_an_invalid_clinic_template_is_refused_naming_the_file(settings, tmp_path):
    write(tmp_path, 2, CLINIC_TEMPLATE.format(version=2).replace("off-label", "unapproved"))
    settings.KETACLINIC_DATA_DIR = str(tmp_path)
    with pytest.raises(TemplateError, match="ketamine-iv-mood.md: racemic ketamine consent"):
        load_templates()
