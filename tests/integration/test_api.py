"""The API twins: notes (progress and psychotherapy), signing, amendments, plan, homework,
circles and attendance, the work list; 422s name the field; another clinic gets 404."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ketaclinic.integration.models import ProgressNote, PsychotherapyNote
from ketaclinic.measures.models import Alert
from tests.integration.conftest import at, next_monday

pytestmark = pytest.mark.django_db


def post(client, url, body):
    return client.post(url, body, content_type="application/json")


def put(client, url, body):
    return client.put(url, body, content_type="application/json")


def test_a_progress_note_is_written_signed_and_amended_keeping_the_original(
    staff, patient, api_client
):
    therapist = api_client(staff["therapist"])
    created = post(
        therapist,
        f"/api/v1/patients/{patient.pk}/notes",
        {
            "kind": "progress",
            "template": "soap",
            "fields": {"subjective": "Calmer", "assessment": "Integrating", "risk": "none"},
            "text": "",
        },
    )
    assert created.status_code == 201, created.content
    note_id = created.json()["id"]
    assert created.json()["signed_at"] is None
    signed = post(therapist, f"/api/v1/notes/{note_id}/sign", {})
    assert signed.status_code == 200 and signed.json()["signed_at"]
    assert post(therapist, f"/api/v1/notes/{note_id}/sign", {}).status_code == 422
    amended = post(
        therapist, f"/api/v1/notes/{note_id}/amendments", {"reason": "Typo", "text": "Much calmer"}
    )
    assert amended.status_code == 201
    body = amended.json()
    assert body["fields"]["subjective"] == "Calmer"  # the signed original stays
    assert [a["text"] for a in body["amendments"]] == ["Much calmer"]
    # The care team reads it; the physician cannot sign or amend another's note.
    assert api_client(staff["nurse"]).get(f"/api/v1/notes/{note_id}").status_code == 200
    refused = post(
        api_client(staff["physician"]),
        f"/api/v1/notes/{note_id}/amendments",
        {"reason": "x", "text": "y"},
    )
    assert refused.status_code == 422
    assert api_client(staff["front_desk"]).get(f"/api/v1/notes/{note_id}").status_code == 403


def test_new_suicidal_ideation_in_a_note_opens_the_urgent_alert(staff, patient, api_client):
    response = post(
        api_client(staff["therapist"]),
        f"/api/v1/patients/{patient.pk}/notes",
        {
            "kind": "progress",
            "template": "dap",
            "fields": {"data": "Passive wish to die", "risk": "new_si"},
        },
    )
    assert response.status_code == 201
    alert = Alert.objects.get(pk=response.json()["alert_id"])
    assert (alert.code, alert.level, alert.status) == ("suicidality", "urgent", "open")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "progress", "template": "dap", "fields": {}}, "text"),
        ({"kind": "progress", "fields": {"data": "x"}}, "template"),
        ({"kind": "progress", "template": "dap", "fields": {"data": "x", "mood": "y"}}, "fields"),
        ({"kind": "progress", "template": "dap", "fields": {"data": "x", "risk": "maybe"}}, "risk"),
        ({"kind": "progress", "template": "dap", "fields": {"data": "a\x00b"}}, "data"),
        (
            {"kind": "progress", "template": "dap", "fields": {"data": "x"}, "appointment": 999999},
            "appointment",
        ),
        ({"kind": "psychotherapy", "text": "  "}, "text"),
        ({"kind": "psychotherapy", "text": "x" * 20001}, "text"),
        ({"kind": "diary", "text": "x"}, "kind"),
    ],
)
def test_bad_notes_are_refused_naming_the_field_and_nothing_is_saved(
    staff, patient, api_client, body, field
):
    response = post(api_client(staff["therapist"]), f"/api/v1/patients/{patient.pk}/notes", body)
    assert response.status_code == 422, response.content
    assert field in str(response.json()["detail"])
    assert ProgressNote.objects.count() == PsychotherapyNote.objects.count() == 0


def test_plan_and_homework(staff, patient, api_client):
    therapist = api_client(staff["therapist"])
    review = str(patient.clinic.today() + timedelta(days=42))
    assert therapist.get(f"/api/v1/patients/{patient.pk}/plan").status_code == 404
    saved = put(
        therapist,
        f"/api/v1/patients/{patient.pk}/plan",
        {
            "review_on": review,
            "interventions": "KAP",
            "goals": [
                {
                    "words": "Enjoy mornings",
                    "measure": "instrument",
                    "instrument": "phq9",
                    "baseline": 18,
                    "target": 9,
                },
                {
                    "words": "Walk daily",
                    "measure": "personal",
                    "scale_label": "Energy",
                    "target": 7,
                },
            ],
        },
    )
    assert saved.status_code == 200, saved.content
    assert [g["words"] for g in saved.json()["goals"]] == ["Enjoy mornings", "Walk daily"]
    stale = put(
        therapist,
        f"/api/v1/patients/{patient.pk}/plan",
        {"review_on": review, "goals": [], "version": 0},
    )
    assert stale.status_code == 409
    impossible = put(
        therapist,
        f"/api/v1/patients/{patient.pk}/plan",
        {
            "review_on": review,
            "goals": [{"words": "x", "measure": "instrument", "instrument": "phq9", "target": 40}],
        },
    )
    assert impossible.status_code == 422 and "goals.0.target" in str(impossible.json()["detail"])
    homework = post(
        therapist,
        f"/api/v1/patients/{patient.pk}/homework",
        {"kind": "breathing", "title": "Box breathing"},
    )
    assert homework.status_code == 201
    plan = api_client(staff["physician"]).get(f"/api/v1/patients/{patient.pk}/plan").json()
    assert [h["title"] for h in plan["homework"]] == ["Box breathing"]
    done = post(therapist, f"/api/v1/homework/{homework.json()['id']}/done", {})
    assert done.json()["done_at"]
    assert (
        put(
            api_client(staff["nurse"]), f"/api/v1/patients/{patient.pk}/plan", {"review_on": review}
        ).status_code
        == 403
    )


def test_circles_attendance_and_session_format(clinic, staff, therapy, patient, api_client):
    from ketaclinic.patients.models import Patient

    second = Patient.objects.create(
        clinic=clinic,
        mrn="MRN2",
        given_name="Ana",
        family_name="Lima",
        birth_date="1990-01-01",
        sex_at_birth="female",
    )
    therapist = api_client(staff["therapist"])
    start = at(clinic, next_monday(), 15).isoformat()
    created = post(
        therapist,
        "/api/v1/integration/circles",
        {
            "title": "Circle",
            "therapist_id": staff["therapist"].pk,
            "room_id": therapy["Therapy 1"].pk,
            "start": start,
            "mode": "video",
            "meeting_url": "https://meet.example.org/c",
            "patient_ids": [patient.pk, second.pk],
        },
    )
    assert created.status_code == 201, created.content
    circle_id = created.json()["id"]
    clash = post(
        api_client(staff["front_desk"]),
        "/api/v1/integration/circles",
        {
            "title": "Clash",
            "therapist_id": staff["therapist"].pk,
            "room_id": therapy["Therapy 1"].pk,
            "start": start,
        },
    )
    assert clash.status_code == 422 and "start" in str(clash.json()["detail"])
    early = post(
        therapist,
        f"/api/v1/integration/circles/{circle_id}/attendance",
        {"attendance": {str(patient.pk): "attended"}},
    )
    assert early.status_code == 422  # the circle has not started
    from ketaclinic.integration.models import Circle

    Circle.objects.filter(pk=circle_id).update(
        start=timezone.now() - timedelta(minutes=80), end=timezone.now() + timedelta(minutes=10)
    )
    marked = post(
        therapist,
        f"/api/v1/integration/circles/{circle_id}/attendance",
        {"attendance": {str(patient.pk): "attended", str(second.pk): "absent"}},
    )
    assert marked.status_code == 200
    assert {s["attendance"] for s in marked.json()["seats"]} == {"attended", "absent"}
    assert marked.json()["status"] == "completed"
    bad_link = put(
        therapist,
        "/api/v1/integration/sessions/999999/format",
        {"mode": "video", "meeting_url": "http://x"},
    )
    assert bad_link.status_code == 404


def test_another_clinic_sees_nothing(staff, patient, outsider, api_client, private_note):
    other = api_client(outsider)
    assert other.get(f"/api/v1/patients/{patient.pk}/notes").status_code == 404
    assert other.get(f"/api/v1/psychotherapy-notes/{private_note.pk}").status_code == 404
    assert (
        post(
            other, f"/api/v1/patients/{patient.pk}/notes", {"kind": "psychotherapy", "text": "x"}
        ).status_code
        == 404
    )
