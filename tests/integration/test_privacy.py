"""Psychotherapy notes (45 CFR 164.501): only their author ever reads the text.

The note's text is looked for in every page and every API GET (each id filled with the
note's own id), every FHIR search and read, the clinic's Bulk export and the audit log,
as every role, another therapist and a physician of another clinic.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest
from django.test import Client

from ketaclinic.audit.models import AuditEvent
from ketaclinic.integration import notes
from ketaclinic.interop import bulk
from tests.integration.conftest import SECRET, actor
from tests.test_role_walk import api_operations, page_patterns

pytestmark = pytest.mark.django_db
SKIP_PAGES = ("logout", "login", "readyz", "healthz")


def body(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


def fill(route: str, patient_id: int, note_id: int) -> str:
    def value(match: re.Match) -> str:
        converter, name = match.group(1) or "str", match.group(2)
        if name == "patient_id":
            return str(patient_id)
        if name == "kind":
            return "condition"
        return str(note_id) if converter == "int" else "x"

    return "/" + re.sub(r"<(?:(\w+):)?(\w+)>", value, route)


def every_page(client: Client, patient_id: int, note_id: int) -> dict[str, str]:
    seen = {}
    for route, name, _view in page_patterns():
        if name in SKIP_PAGES or "$export" in route:
            continue
        url = fill(route, patient_id, note_id)
        response = client.get(url)
        assert response.status_code < 500, url
        seen[url] = body(response)
    return seen


def every_api_get(client: Client, patient_id: int, note_id: int) -> dict[str, str]:
    seen = {}
    for method, path, _action in api_operations():
        if method != "GET":
            continue
        url = re.sub(
            r"\{(\w+)\}", lambda m: str(patient_id if m.group(1) == "patient_id" else note_id), path
        )
        response = client.get(url)
        assert response.status_code < 500, url
        seen[url] = body(response)
    return seen


@pytest.fixture
def record_with_notes(staff, patient, private_note):
    # A progress note of the same session, which the care team does read.
    notes.create_progress_note(
        actor=actor(staff["therapist"]),
        patient=patient,
        template="dap",
        fields={"data": "Discussed the dosing experience.", "risk": "none"},
        sign=True,
    )
    return private_note


@pytest.mark.parametrize("who", ["admin", "physician", "nurse", "front_desk", "second", "outsider"])
def test_no_one_but_the_author_sees_the_text_on_any_page_or_api(
    who, staff, patient, record_with_notes, second_therapist, outsider, api_client
):
    member = {"second": second_therapist, "outsider": outsider}.get(who) or staff[who]
    session = Client()
    session.force_login(member.user)
    pages = every_page(session, patient.pk, record_with_notes.pk)
    apis = every_api_get(api_client(member), patient.pk, record_with_notes.pk)
    leaked = [url for url, text in {**pages, **apis}.items() if SECRET in text]
    assert leaked == []
    # The note's own address answers 404 (or 403 for a role that never writes one).
    assert session.get(f"/integration/private/{record_with_notes.pk}/").status_code in (403, 404)
    assert api_client(member).get(
        f"/api/v1/psychotherapy-notes/{record_with_notes.pk}"
    ).status_code in (403, 404)
    listed = api_client(member).get(f"/api/v1/patients/{patient.pk}/notes")
    if listed.status_code == 200:
        assert [n["kind"] for n in listed.json()] == ["progress"]


def test_the_author_reads_it_and_every_read_and_write_is_audited_without_the_text(
    staff, patient, record_with_notes, login, api_client
):
    author = login(staff["therapist"])
    assert SECRET in author.get(f"/integration/private/{record_with_notes.pk}/").content.decode()
    listed = api_client(staff["therapist"]).get(f"/api/v1/patients/{patient.pk}/notes").json()
    assert sorted(n["kind"] for n in listed) == ["progress", "psychotherapy"]
    actions = set(
        AuditEvent.objects.filter(object_type="integration.psychotherapynote").values_list(
            "action", flat=True
        )
    )
    assert {"psychotherapy_note_write", "psychotherapy_note_view"} <= actions
    assert not [e for e in AuditEvent.objects.all() if SECRET in json.dumps(e.detail)]
    # The admin's audit log shows the access, never the text.
    log = login(staff["admin"]).get("/audit/").content.decode()
    assert SECRET not in log


def test_fhir_searches_and_the_bulk_export_never_hold_it(
    staff, patient, record_with_notes, api_client, settings, tmp_path
):
    settings.KETACLINIC_EXPORT_DIR = tmp_path / "exports"
    admin = api_client(staff["admin"])
    for resource in (
        "Patient",
        "Encounter",
        "Observation",
        "Condition",
        "Procedure",
        "DocumentReference",
        "QuestionnaireResponse",
        "Consent",
        "CarePlan",
        "Goal",
    ):
        response = admin.get(f"/fhir/R4/{resource}?patient={patient.pk}")
        assert SECRET not in body(response)
    everything = admin.get(f"/fhir/R4/Patient/{patient.pk}")
    assert SECRET not in body(everything)
    kick = admin.get("/fhir/R4/$export", HTTP_PREFER="respond-async")
    assert kick.status_code == 202
    bulk.run_queued()
    status_url = urlsplit(kick["Content-Location"]).path
    manifest = admin.get(status_url).json()
    assert manifest["output"]
    for output in manifest["output"]:
        assert SECRET not in body(admin.get(urlsplit(output["url"]).path))


def test_patient_search_does_not_find_it(staff, patient, record_with_notes, login, api_client):
    for role in ("admin", "physician", "therapist"):
        page = login(staff[role]).get("/patients/", {"q": "Zebra-Lantern"}).content.decode()
        assert "Maria Garcia" not in page
        api = api_client(staff[role]).get("/api/v1/patients", {"q": "Zebra-Lantern"})
        assert "Maria" not in body(api)


def test_a_release_needs_a_current_authorization_and_only_the_author_records_it(
    staff, patient, private_note, second_therapist, login
):
    from datetime import timedelta

    today = patient.clinic.today()  # the clinic's date, as the form checks
    other = login(second_therapist)
    refused = other.post(f"/integration/private/{private_note.pk}/", {"action": "release"})
    assert refused.status_code == 404
    author = login(staff["therapist"])
    expired = author.post(
        f"/integration/private/{private_note.pk}/",
        {
            "action": "release",
            "authorized_on": today - timedelta(days=400),
            "expires_on": today - timedelta(days=35),
            "scope": "All notes for court",
            "recipient": "Dr X",
        },
    )
    assert expired.status_code == 422
    assert "expired" in expired.content.decode()
    assert not private_note.releases.exists()
    done = author.post(
        f"/integration/private/{private_note.pk}/",
        {
            "action": "release",
            "authorized_on": today,
            "expires_on": today + timedelta(days=90),
            "scope": "Notes of November for the treating psychiatrist",
            "recipient": "Dr Osei",
        },
    )
    assert done.status_code == 302
    assert private_note.releases.count() == 1
    assert AuditEvent.objects.filter(action="psychotherapy_note_release").count() == 1
