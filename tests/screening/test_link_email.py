"""Intake and consent links e-mailed from the chart: plain, non-clinical text; base URL links."""

from __future__ import annotations

import pytest
from django.core import mail

from ketaclinic.audit.models import AuditEvent
from ketaclinic.screening.models import ConsentLink, IntakeLink

pytestmark = pytest.mark.django_db


@pytest.fixture
def reachable(patient):
    patient.email = "maria@example.org"
    patient.save()
    return patient


@pytest.fixture(autouse=True)
def base_url(settings):
    settings.KETACLINIC_BASE_URL = "https://clinic.example.org"


@pytest.mark.parametrize("role", ["physician", "nurse"])
def test_it_e_mails_the_intake_link_and_shows_it_to_copy(
    role, staff, reachable, login, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = login(staff[role]).post(
            f"/screening/patients/{reachable.pk}/intake-link/", {"deliver": "email"}
        )

    assert response.status_code == 200
    assert "✓ E-mailed to maria@example.org." in response.text
    assert 'data-copy="new-link"' in response.text
    (sent,) = mail.outbox
    assert sent.to == ["maria@example.org"]
    assert sent.subject == "A form from Harbor Light"
    assert "Harbor Light asks you to fill in a short history form before your visit." in sent.body
    assert "https://clinic.example.org/" in sent.body
    link_line = next(line for line in sent.body.splitlines() if line.startswith("https://"))
    assert link_line in response.text  # the same link, shown once to copy
    for clinical in ("ketamine", "Maria", "Garcia", "depress", "eligib"):
        assert clinical.lower() not in sent.body.lower()
    link = IntakeLink.objects.get()
    assert AuditEvent.objects.filter(action="send", object_id=str(link.pk)).count() == 1


def test_it_e_mails_a_consent_link(staff, reachable, login, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = login(staff["physician"]).post(
            f"/screening/patients/{reachable.pk}/consent-link/",
            {"deliver": "email", "template": "ketamine-iv-mood"},
        )
    assert response.status_code == 200, response.text[:300]
    (sent,) = mail.outbox
    assert "a consent form to read and sign" in sent.body
    assert "ketamine" not in sent.body.lower()
    assert ConsentLink.objects.count() == 1


def test_without_an_address_nothing_is_created_or_sent(staff, patient, login):
    response = login(staff["nurse"]).post(
        f"/screening/patients/{patient.pk}/intake-link/", {"deliver": "email"}, follow=True
    )
    assert "no e-mail address on record" in response.text
    assert IntakeLink.objects.count() == 0 and mail.outbox == []


def test_a_copy_link_is_not_e_mailed(staff, reachable, login, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = login(staff["nurse"]).post(
            f"/screening/patients/{reachable.pk}/intake-link/", {"deliver": "copy"}
        )
    assert "https://clinic.example.org/" in response.text
    assert "E-mailed" not in response.text and mail.outbox == []


@pytest.mark.parametrize("role", ["front_desk", "therapist", "admin"])
def test_other_roles_cannot_send_links_and_nothing_is_created(role, staff, reachable, login):
    client = login(staff[role])
    intake = client.post(f"/screening/patients/{reachable.pk}/intake-link/", {"deliver": "email"})
    consent = client.post(
        f"/screening/patients/{reachable.pk}/consent-link/",
        {"deliver": "email", "template": "ketamine-iv-mood"},
    )
    assert (intake.status_code, consent.status_code) == (403, 403)
    assert IntakeLink.objects.count() == 0 and ConsentLink.objects.count() == 0
    assert mail.outbox == []


def test_the_chart_offers_e_mail_and_copy(staff, reachable, login):
    chart = login(staff["physician"]).get(f"/patients/{reachable.pk}/")
    assert "Forms the patient fills in at home" in chart.text
    assert chart.text.count('name="deliver" value="email"') == 2
