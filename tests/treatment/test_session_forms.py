"""The session page's forms: a refused form comes back as typed, each error by its field."""

from __future__ import annotations

import re

from ketaclinic.treatment import services
from ketaclinic.treatment.models import Observation, VitalReading

from .conftest import actor


def _field(html: str, name: str) -> str:
    """The input named `name` and what follows it up to the end of its label."""
    found = re.search(rf'<input name="{name}"[^>]*>.*?</label>', html, re.S)
    assert found, f"no input {name}"
    return found.group(0)


def test_refused_vitals_keep_every_typed_value_and_name_every_bad_field(
    staff, login, iv_appointment
):
    session = services.start_session(actor=actor(staff["nurse"]), appointment=iv_appointment)
    page = login(staff["nurse"])
    typed = {
        "systolic": "400",
        "diastolic": "80",
        "heart_rate": "abc",
        "spo2": "97",
        "respiratory_rate": "14",
        "temperature_c": "36.6",
        "taken_at": "",
        "version": session.version,
    }
    refused = page.post(f"/treatment/sessions/{session.pk}/do/vitals/", typed)
    html = refused.content.decode()
    assert refused.status_code == 422
    assert 'value="400"' in _field(html, "systolic")
    assert "Systolic BP 400 mmHg is not plausible" in _field(html, "systolic")
    assert 'value="abc"' in _field(html, "heart_rate")
    assert "Enter a number." in _field(html, "heart_rate")
    for name, value in (("diastolic", "80"), ("spo2", "97"), ("temperature_c", "36.6")):
        assert f'value="{value}"' in _field(html, name)
        assert 'class="error"' not in _field(html, name)
    assert VitalReading.objects.filter(session=session).count() == 0


def test_a_nul_byte_in_a_session_form_is_refused_by_its_field_not_a_500(
    staff, login, iv_appointment
):
    session = services.start_session(actor=actor(staff["nurse"]), appointment=iv_appointment)
    page = login(staff["nurse"])
    refused = page.post(
        f"/treatment/sessions/{session.pk}/do/observation/",
        {"kind": "note", "text": "calm\x00", "version": session.version},
    )
    assert refused.status_code == 422
    assert "Remove the invisible NUL character" in _field(refused.content.decode(), "text")
    assert Observation.objects.filter(session=session).count() == 0


def test_hard_stops_that_block_dosing_render_as_a_list(staff, login, iv_appointment):
    session = services.start_session(actor=actor(staff["nurse"]), appointment=iv_appointment)
    page = login(staff["nurse"])
    refused = page.post(
        f"/treatment/sessions/{session.pk}/do/dosing/",
        {
            "product": "Ketamine 10 mg/mL",
            "lot_number": "K-1",
            "dose_mg": "35",
            "concentration_mg_per_ml": "1",
            "version": session.version,
        },
    )
    html = refused.content.decode()
    assert refused.status_code == 409
    listed = re.search(r'<ul class="errorlist hard-stops">(.*?)</ul>', html, re.S)
    assert listed and listed.group(1).count("<li>") >= 2
    assert 'value="35"' in _field(html, "dose_mg")
    session.refresh_from_db()
    assert session.state == "pre_dose"


def test_an_amended_time_reads_in_the_clinics_zone_not_as_an_iso_string():
    from django.utils import timezone

    from ketaclinic.treatment.templatetags.treatment_tags import as_recorded

    with timezone.override("America/New_York"):
        assert as_recorded("2026-03-02T17:05:00+00:00") == "12:05, 2 Mar 2026"
    assert as_recorded("Lot K-2231") == "Lot K-2231"
