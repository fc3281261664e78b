"""A clinic's own consent text: a copy with its own version, edited in the browser or the API.

Patients sign the clinic's current version; a consent already signed keeps the exact
text and version it was signed with.
"""

from __future__ import annotations

import pytest

from ketaclinic.accounts.access import Actor
from ketaclinic.audit.models import AuditEvent
from ketaclinic.screening import services as screening
from ketaclinic.screening.clinic_consent import templates_for
from ketaclinic.screening.consent import load_templates
from ketaclinic.screening.models import ClinicConsentTemplate, Consent

pytestmark = pytest.mark.django_db
FAMILY = "ketamine-iv-mood"


def shipped_version() -> int:
    return load_templates()[FAMILY].version


def sign(staff, patient, **extra) -> Consent:
    template = templates_for(patient.clinic)[FAMILY]
    return screening.sign_consent(
        actor=Actor(staff["nurse"].user, staff["nurse"]),
        patient=patient,
        template_key=FAMILY,
        signed_name="Maria Garcia",
        acknowledgements=[r.id for r in template.risks],
        **extra,
    )


def edited_body() -> str:
    return (
        load_templates()[FAMILY].body
        + "\n## Parking\n\nPlease ask your escort to park at the back.\n"
    )


def test_an_admin_makes_a_clinic_copy_and_patients_sign_it(staff, patient, login):
    client = login(staff["admin"])
    page = client.get(f"/setup/consent/{FAMILY}/")
    assert page.status_code == 200 and f"Save as version {shipped_version() + 1}" in page.text

    done = client.post(f"/setup/consent/{FAMILY}/", {"action": "copy"}, follow=True)

    assert f"version {shipped_version() + 1} is now the one patients sign" in done.text
    assert "your clinic&#x27;s copy" in done.text or "your clinic's copy" in done.text
    consent = sign(staff, patient)
    assert consent.template_version == shipped_version() + 1
    assert AuditEvent.objects.filter(
        action="create", detail__family=FAMILY, detail__version=shipped_version() + 1
    ).exists()


def test_an_edit_is_a_new_version_and_a_signed_consent_keeps_its_text(staff, patient, login):
    before = sign(staff, patient)
    client = login(staff["admin"])
    title = load_templates()[FAMILY].title

    client.post(
        f"/setup/consent/{FAMILY}/", {"action": "save", "title": title, "body": edited_body()}
    )

    after = sign(staff, patient)
    assert after.template_version == before.template_version + 1
    assert "ask your escort to park at the back" in after.text
    before.refresh_from_db()
    assert "park at the back" not in before.text
    assert before.template_version == shipped_version()


def test_a_racemic_text_without_the_off_label_statement_is_refused(staff, login):
    body = load_templates()[FAMILY].body.replace("off-label", "approved")
    response = login(staff["admin"]).post(
        f"/setup/consent/{FAMILY}/", {"action": "save", "title": "IV ketamine", "body": body}
    )
    assert response.status_code == 200
    assert "must state the off-label use" in response.text
    assert ClinicConsentTemplate.objects.count() == 0


@pytest.mark.parametrize("body", ["", "\x00", "x" * 20_001, "<script>alert(1)</script> off-label"])
def test_hostile_or_empty_text_is_refused_or_kept_escaped(body, staff, login):
    client = login(staff["admin"])
    response = client.post(
        f"/setup/consent/{FAMILY}/", {"action": "save", "title": "T", "body": body}
    )
    assert response.status_code in (200, 302)
    if ClinicConsentTemplate.objects.exists():  # the script tag is kept as text, shown escaped
        page = client.get(f"/setup/consent/{FAMILY}/")
        assert "<script>alert(1)</script>" not in page.text


@pytest.mark.parametrize("role", ["physician", "nurse", "therapist", "front_desk"])
def test_only_the_admin_edits_consent_texts(role, staff, login):
    client = login(staff[role])
    assert client.get(f"/setup/consent/{FAMILY}/").status_code == 403
    assert client.post(f"/setup/consent/{FAMILY}/", {"action": "copy"}).status_code == 403
    assert ClinicConsentTemplate.objects.count() == 0


def test_an_unknown_family_is_not_found(staff, login):
    assert login(staff["admin"]).get("/setup/consent/nope/").status_code == 404


def test_a_signature_on_a_text_replaced_meanwhile_is_refused(staff, patient, login):
    shown = shipped_version()
    login(staff["admin"]).post(f"/setup/consent/{FAMILY}/", {"action": "copy"})
    with pytest.raises(screening.ValidationError) as refused:
        sign(staff, patient, expected_version=shown)
    assert "updated this consent while it was open" in str(refused.value)
    assert Consent.objects.count() == 0


def test_another_clinic_still_signs_the_shipped_text(staff, outsider, login):
    login(staff["admin"]).post(f"/setup/consent/{FAMILY}/", {"action": "copy"})
    assert templates_for(outsider.clinic)[FAMILY].version == shipped_version()


def test_the_api_lists_copies_and_adds_versions(staff, api_client):
    client = api_client(staff["admin"])
    listed = client.get("/api/v1/setup/consent-templates").json()
    assert {t["family"]: t["clinic_copy"] for t in listed}[FAMILY] is False

    made = client.post(
        f"/api/v1/setup/consent-templates/{FAMILY}/versions",
        {"text": edited_body()},
        content_type="application/json",
    )

    assert made.status_code == 201
    assert (made.json()["version"], made.json()["clinic_copy"]) == (shipped_version() + 1, True)
    assert "park at the back" in made.json()["text"]
    unknown = client.post(
        "/api/v1/setup/consent-templates/nope/versions", {}, content_type="application/json"
    )
    empty = client.post(
        f"/api/v1/setup/consent-templates/{FAMILY}/versions",
        {"text": "  "},
        content_type="application/json",
    )
    assert (unknown.status_code, empty.status_code) == (422, 422)
    assert "body" in str(empty.json()["detail"])
    assert ClinicConsentTemplate.objects.count() == 1
    nurse = api_client(staff["nurse"]).get("/api/v1/setup/consent-templates")
    assert nurse.status_code == 403


def test_the_list_offers_a_copy_of_each_template_and_names_the_clinics_versions(staff, login):
    client = login(staff["admin"])
    page = client.get("/setup/consent/")
    assert page.status_code == 200
    assert page.text.count("Make a clinic copy or edit") == 4
    client.post(f"/setup/consent/{FAMILY}/", {"action": "copy"})
    page = client.get("/setup/consent/")
    assert page.text.count("Make a clinic copy or edit") == 3
    assert "Edit (new version)" in page.text and "Your clinic's versions: " in page.text
