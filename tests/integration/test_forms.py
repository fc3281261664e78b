"""Every integration form posted as every role, with valid, empty and hostile input.

Allowed roles: valid input is saved (302), empty and hostile input is refused with 422 and
a message, and nothing is written. Other roles: 403 and nothing written. Never a 500.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ketaclinic.accounts.roles import may
from ketaclinic.integration import notes, plans
from ketaclinic.integration.models import (
    Circle,
    CircleSeat,
    GoalRating,
    Homework,
    NoteAmendment,
    ProgressNote,
    PsychotherapyNote,
    SessionDetail,
    TreatmentPlan,
)
from ketaclinic.scheduling.models import Appointment
from tests.conftest import ROLES
from tests.integration.conftest import actor, at, next_monday

pytestmark = pytest.mark.django_db

NUL = "bad\x00text"
HUGE = "x" * 30000
SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
def world(clinic, staff, therapy, patient):
    monday = next_monday()
    appointment = Appointment.objects.create(
        clinic=clinic,
        patient=patient,
        kind="integration",
        room=therapy["Therapy 1"],
        staff=staff["therapist"],
        start=at(clinic, monday, 10),
        end=at(clinic, monday, 11),
    )
    note = notes.create_progress_note(
        actor=actor(staff["therapist"]),
        patient=patient,
        template="dap",
        fields={"data": "Seen.", "risk": "none"},
    )
    signed = notes.create_progress_note(
        actor=actor(staff["therapist"]),
        patient=patient,
        template="soap",
        fields={"subjective": "Calmer.", "risk": "none"},
        sign=True,
    )
    plan = plans.save_plan(
        actor=actor(staff["therapist"]),
        patient=patient,
        goals=[{"words": "Sleep", "measure": "personal", "target": 7, "baseline": 3}],
        interventions="",
        review_on=clinic.today() + timedelta(days=30),
    )
    homework = plans.add_homework(
        actor=actor(staff["therapist"]), patient=patient, kind="walking", title="Walk"
    )
    start = timezone.now() - timedelta(hours=1)
    circle = Circle.objects.create(
        clinic=clinic,
        title="Past circle",
        therapist=staff["therapist"],
        room=therapy["Therapy 1"],
        start=start,
        end=start + timedelta(minutes=90),
    )
    CircleSeat.objects.create(clinic=clinic, circle=circle, patient=patient)
    return {
        "patient": patient,
        "appointment": appointment,
        "note": note,
        "signed": signed,
        "goal": plan.goals.get(),
        "homework": homework,
        "circle": circle,
        "monday": monday,
    }


def counts():
    return (
        ProgressNote.objects.count(),
        NoteAmendment.objects.count(),
        PsychotherapyNote.objects.count(),
        TreatmentPlan.objects.filter(version__gt=1).count(),
        Homework.objects.count(),
        Homework.objects.filter(done_at__isnull=False).count(),
        GoalRating.objects.count(),
        SessionDetail.objects.count(),
        Circle.objects.count(),
        CircleSeat.objects.exclude(attendance="expected").count(),
    )


def forms(w, staff, clinic, therapy):
    p = w["patient"].pk
    start = f"{w['monday'] + timedelta(days=1)}T14:00"
    plan_valid = {
        "review_on": str(clinic.today() + timedelta(days=40)),
        "interventions": "KAP",
        "version": 1,
        "goal0-words": "Enjoy mornings",
        "goal0-measure": "instrument",
        "goal0-instrument": "phq9",
        "goal0-baseline": "18",
        "goal0-target": "9",
    }
    return [
        (
            "note_new",
            f"/integration/patients/{p}/notes/new/",
            "integration.note",
            {"template": "dap", "data": "Talked about the session.", "risk": "none", "sign": "on"},
            {},
            {"template": "dap", "data": NUL, "risk": "none", "appointment": "999999"},
        ),
        (
            "note_new_hostile_template",
            f"/integration/patients/{p}/notes/new/",
            "integration.note",
            {"template": "soap", "subjective": SCRIPT, "risk": "chronic"},
            {"template": "soap", "risk": "none"},
            {"template": "freud", "data": HUGE, "risk": "maybe"},
        ),
        (
            "note_sign",
            f"/integration/notes/{w['note'].pk}/",
            "integration.note",
            {"action": "sign"},
            {},
            {"action": "delete"},
        ),
        (
            "note_amend",
            f"/integration/notes/{w['signed'].pk}/",
            "integration.note",
            {"action": "amend", "reason": "Wrong date", "text": "Seen on Tuesday."},
            {"action": "amend"},
            {"action": "amend", "reason": NUL, "text": HUGE},
        ),
        (
            "private_new",
            f"/integration/patients/{p}/private/new/",
            "psychotherapy.note",
            {"text": "Private impressions."},
            {},
            {"text": NUL},
        ),
        (
            "goal_rate",
            f"/integration/goals/{w['goal'].pk}/rate/",
            "integration.plan",
            {"value": "6"},
            {},
            {"value": "NaN"},
        ),
        (
            "plan",
            f"/integration/patients/{p}/plan/",
            "integration.plan",
            plan_valid,
            {},
            {
                **plan_valid,
                "goal0-target": "99",
                "review_on": "2001-01-01",
                "goal0-instrument": "nope",
            },
        ),
        (
            "homework_add",
            f"/integration/patients/{p}/homework/",
            "integration.plan",
            {"kind": "breathing", "title": "Box breathing"},
            {},
            {"kind": "levitate", "title": NUL, "due_on": "9999-99-99"},
        ),
        (
            "session_format",
            f"/integration/sessions/{w['appointment'].pk}/format/",
            "integration.circle",
            {"mode": "video", "meeting_url": "https://meet.example.org/abc"},
            {},
            {"mode": "video", "meeting_url": "javascript:alert(1)"},
        ),
        (
            "circle_new",
            "/integration/circles/",
            "integration.circle",
            {
                "title": "Circle",
                "therapist": staff["therapist"].pk,
                "room": therapy["Therapy 1"].pk,
                "start": start,
                "minutes": 90,
                "capacity": 6,
                "mode": "in_person",
                "patients": [p],
            },
            {},
            {
                "title": SCRIPT,
                "therapist": staff["front_desk"].pk,
                "room": therapy["Chair 1"].pk,
                "start": "2001-01-01T10:00",
                "minutes": 9999,
                "capacity": 1,
                "mode": "video",
                "meeting_url": "http://x",
            },
        ),
        (
            "circle_attendance",
            f"/integration/circles/{w['circle'].pk}/",
            "integration.attend",
            {"action": "attendance", f"seat-{p}": "attended"},
            {"action": "attendance", f"seat-{p}": ""},
            {"action": "attendance", f"seat-{p}": "teleported"},
        ),
    ]


EMPTY_IS_NOOP = {"note_sign", "circle_attendance"}  # nothing to fill in: refused or no change


@pytest.mark.parametrize("role", ROLES)
def test_every_form_as_every_role(role, clinic, staff, therapy, world, login):
    client = login(staff[role])
    for name, url, action, valid, empty, hostile in forms(world, staff, clinic, therapy):
        allowed = may(role, action)
        # The author-only forms: another role that may write notes is still not the author.
        author_only = name in ("note_sign", "note_amend")
        for kind, payload in (("hostile", hostile), ("empty", empty), ("valid", valid)):
            before = counts()
            response = client.post(url, payload)
            assert response.status_code < 500, (name, kind, role)
            if not allowed:
                assert response.status_code in (403, 405), (name, kind, role, response.status_code)
                assert counts() == before, (name, kind, role)
            elif kind == "valid" and not (author_only and role != "therapist"):
                assert response.status_code == 302, (name, role, response.content.decode()[:3000])
            elif kind == "valid":
                assert response.status_code in (403, 422), (name, role)
                assert counts() == before
            elif kind == "empty" and name in EMPTY_IS_NOOP:
                assert response.status_code in (302, 403, 422), (name, role)
            else:
                assert response.status_code in (403, 422), (name, kind, role, response.status_code)
                assert counts() == before, (name, kind, role)
                if response.status_code == 422:
                    assert 'role="alert"' in response.content.decode(), (name, kind, role)


@pytest.mark.parametrize("role", ROLES)
def test_homework_done_and_cancel_as_every_role(role, clinic, staff, world, login, therapy):
    client = login(staff[role])
    response = client.post(f"/integration/homework/{world['homework'].pk}/done/")
    if may(role, "integration.plan"):
        assert response.status_code == 302
        assert Homework.objects.get(pk=world["homework"].pk).done_at is not None
    else:
        assert response.status_code == 403
    circle = Circle.objects.create(
        clinic=clinic,
        title="Later",
        therapist=staff["therapist"],
        room=therapy["Therapy 1"],
        start=timezone.now() + timedelta(days=9),
        end=timezone.now() + timedelta(days=9, hours=1),
    )
    refused = client.post(f"/integration/circles/{circle.pk}/", {"action": "cancel", "reason": NUL})
    assert refused.status_code in (403, 422)
    response = client.post(
        f"/integration/circles/{circle.pk}/", {"action": "cancel", "reason": "Therapist ill"}
    )
    circle.refresh_from_db()
    if may(role, "integration.circle"):
        assert response.status_code == 302 and circle.status == "cancelled"
    else:
        assert response.status_code == 403 and circle.status == "booked"


def test_another_clinics_physician_gets_404_everywhere(world, outsider, login):
    client = login(outsider)
    for url in (
        f"/integration/patients/{world['patient'].pk}/",
        f"/integration/notes/{world['note'].pk}/",
        f"/integration/circles/{world['circle'].pk}/",
        f"/integration/sessions/{world['appointment'].pk}/format/",
    ):
        assert client.get(url).status_code == 404, url
        assert client.post(url, {"action": "sign"}).status_code == 404, url
