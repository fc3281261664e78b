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


@pytest.mark.parametrize("role", ["physician", "nurse", "front_desk"])
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


@pytest.mark.parametrize("role", ["therapist", "admin"])
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


def test_the_front_desk_sends_a_consent_link_by_e_mail(
    staff, reachable, login, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = login(staff["front_desk"]).post(
            f"/screening/patients/{reachable.pk}/consent-link/",
            {"deliver": "email", "template": "esketamine-nasal"},
        )
    assert response.status_code == 200
    assert "✓ E-mailed to maria@example.org." in response.text
    (sent,) = mail.outbox
    assert "a consent form to read and sign" in sent.body
    link = ConsentLink.objects.get()
    assert (link.template_key, link.created_by) == ("esketamine-nasal", staff["front_desk"].user)


def test_the_front_desk_sees_only_the_links_on_the_chart_not_the_clinical_panel(
    staff, reachable, login
):
    chart = login(staff["front_desk"]).get(f"/patients/{reachable.pk}/")
    assert "Forms the patient fills in at home" in chart.text
    assert chart.text.count('name="deliver" value="email"') == 2
    # Screening results, consents signed and "Sign a consent" (witnessing) stay clinical.
    for clinical in ("Consultation and eligibility", "Sign a consent", "Evaluate eligibility"):
        assert clinical not in chart.text


@pytest.mark.parametrize("role", ["therapist", "admin"])
def test_roles_that_do_not_send_links_see_no_link_forms(role, staff, reachable, login):
    chart = login(staff[role]).get(f"/patients/{reachable.pk}/")
    assert 'name="deliver"' not in chart.text


def test_the_front_desk_still_cannot_witness_a_signature_or_fill_in_the_intake(
    staff, reachable, login
):
    client = login(staff["front_desk"])
    assert client.get(f"/screening/patients/{reachable.pk}/intake/").status_code == 403
    sign = client.get(f"/screening/patients/{reachable.pk}/consent/ketamine-iv-mood/")
    assert sign.status_code in (403, 404)


def test_the_api_e_mails_a_link_for_the_front_desk(
    staff, reachable, api_client, django_capture_on_commit_callbacks
):
    client = api_client(staff["front_desk"])
    with django_capture_on_commit_callbacks(execute=True):
        intake = client.post(
            f"/api/v1/patients/{reachable.pk}/intake-links",
            {"deliver": "email"},
            content_type="application/json",
        )
        consent = client.post(
            f"/api/v1/patients/{reachable.pk}/consent-links",
            {"template": "ketamine-iv-mood", "deliver": "copy"},
            content_type="application/json",
        )
    assert (intake.status_code, consent.status_code) == (201, 201)
    assert intake.json()["emailed_to"] == "maria@example.org"
    assert consent.json()["emailed_to"] is None
    assert len(mail.outbox) == 1


def test_the_api_refuses_to_e_mail_without_an_address_and_creates_nothing(
    staff, patient, api_client
):
    response = api_client(staff["front_desk"]).post(
        f"/api/v1/patients/{patient.pk}/intake-links",
        {"deliver": "email"},
        content_type="application/json",
    )
    assert response.status_code == 422
    assert "deliver" in str(response.json()["detail"])
    assert IntakeLink.objects.count() == 0 and mail.outbox == []


@pytest.mark.parametrize("role", ["therapist", "admin"])
def test_the_api_refuses_links_to_roles_that_do_not_send_them(role, staff, reachable, api_client):
    response = api_client(staff[role]).post(
        f"/api/v1/patients/{reachable.pk}/intake-links", {}, content_type="application/json"
    )
    assert response.status_code == 403
    assert IntakeLink.objects.count() == 0
