"""The chair board (constant queries), the charting page and its actions, the chart section."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ketaclinic.audit.models import AuditEvent
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling.models import Room
from ketaclinic.treatment import board as board_module
from ketaclinic.treatment import services
from ketaclinic.treatment.models import TreatmentSession, VitalReading

from .conftest import actor, clinic_today, make_appointment, make_course


def add_running_session(clinic, staff, n, readings):
    patient = Patient.objects.create(
        clinic=clinic,
        mrn=f"B{n:05d}",
        given_name=f"Pat{n}",
        family_name="Board",
        birth_date=clinic_today().replace(year=1970),
        sex_at_birth="male",
        weight_kg=80,
        weight_measured_on=clinic_today(),
    )
    room = Room.objects.create(
        clinic=clinic, name=f"Board chair {n}", kind="treatment_chair", position=10 + n
    )
    course = make_course(
        clinic,
        patient,
        staff["physician"],
        "ketamine-iv-mood",
        "ketamine-iv-mood",
        dose_mg_per_kg=0.5,
    )
    appointment = make_appointment(clinic, patient, course, room)
    session = services.start_session(actor=actor(staff["nurse"]), appointment=appointment)
    dose_at = timezone.now() - timedelta(minutes=30)
    TreatmentSession.objects.filter(pk=session.pk).update(state="dosing", dose_started_at=dose_at)
    for i in range(readings):
        VitalReading.objects.create(
            session=session,
            taken_at=dose_at + timedelta(minutes=i),
            phase="during",
            systolic=120 + i,
            diastolic=80,
            heart_rate=70,
            spo2=98,
            respiratory_rate=14,
            recorded_by=staff["nurse"].user,
            recorded_at=timezone.now(),
        )
    return session


def test_the_board_shows_every_active_session_in_constant_queries(clinic, staff, login):
    add_running_session(clinic, staff, 1, readings=1)
    page = login(staff["nurse"])
    page.get("/treatment/board/live/")
    with CaptureQueriesContext(connection) as few:
        response = page.get("/treatment/board/live/")
    assert response.status_code == 200
    for n in range(2, 6):
        add_running_session(clinic, staff, n, readings=12)
    page.get("/treatment/board/live/")  # new patients on the board: that view is recorded
    with CaptureQueriesContext(connection) as many:
        response = page.get("/treatment/board/live/")
    assert len(many) == len(few)
    html = response.content.decode()
    for n in range(1, 6):
        assert f"Pat{n} Board" in html
    assert "BP 131/80" in html  # the last of 12 readings
    assert 'hx-trigger="every 10s"' in html


def board_views(membership):
    return list(
        AuditEvent.objects.filter(
            user=membership.user, action="view", object_type="treatment.board"
        ).order_by("pk")
    )


def test_board_polls_are_audited_once_per_window_and_whenever_new_patients_show(
    monkeypatch, clinic, staff, login, iv_appointment
):
    first = add_running_session(clinic, staff, 1, readings=1)
    nurse = login(staff["nurse"])
    for _ in range(3):
        assert nurse.get("/treatment/board/live/").status_code == 200
    assert nurse.get("/treatment/board/").status_code == 200
    events = board_views(staff["nurse"])
    assert [e.detail for e in events] == [
        {"view": "board", "sessions": [first.pk], "waiting": [iv_appointment.pk]}
    ]
    assert events[0].patient_id is None

    # Another user's poll is their own read.
    login(staff["physician"]).get("/treatment/board/live/")
    assert len(board_views(staff["physician"])) == 1

    # A new patient on the board is recorded at once.
    second = add_running_session(clinic, staff, 2, readings=0)
    nurse.get("/treatment/board/live/")
    nurse.get("/treatment/board/live/")
    assert [e.detail["sessions"] for e in board_views(staff["nurse"])] == [
        [first.pk],
        sorted([first.pk, second.pk]),
    ]

    # Once the window has passed (here: shrunk to nothing), the same board is recorded again.
    monkeypatch.setattr(board_module, "AUDIT_WINDOW", timedelta(0))
    nurse.get("/treatment/board/live/")
    assert len(board_views(staff["nurse"])) == 3


def test_the_board_lists_checked_in_patients_with_a_start_button(staff, login, iv_appointment):
    response = login(staff["nurse"]).get("/treatment/board/")
    assert b"Checked in, waiting to start" in response.content
    assert b"Start session" in response.content
    assert login(staff["therapist"]).get("/treatment/board/").status_code == 200
    assert b"Start session" not in login(staff["therapist"]).get("/treatment/board/").content
    assert login(staff["front_desk"]).get("/treatment/board/").status_code == 403


def test_a_nurse_starts_and_charts_from_the_page(staff, login, iv_appointment):
    page = login(staff["nurse"])
    response = page.post(f"/treatment/appointments/{iv_appointment.pk}/start/")
    session = TreatmentSession.objects.get()
    assert response.url == f"/treatment/sessions/{session.pk}/"
    chart = page.get(response.url)
    assert chart.status_code == 200
    assert b"Pre-dose checklist" in chart.content
    posted = page.post(
        f"/treatment/sessions/{session.pk}/do/vitals/",
        {
            "systolic": "185",
            "diastolic": "100",
            "heart_rate": "80",
            "spo2": "97",
            "respiratory_rate": "14",
            "version": session.version,
        },
        follow=True,
    )
    assert "HIGH hypertension" in posted.content.decode()
    session.refresh_from_db()
    refused = page.post(
        f"/treatment/sessions/{session.pk}/do/vitals/",
        {"systolic": "400", "version": session.version},
        follow=True,
    )
    assert refused.status_code == 422
    assert "Systolic BP 400 mmHg is not plausible" in refused.content.decode()
    assert VitalReading.objects.count() == 1


def test_a_page_form_without_its_version_is_refused_and_changes_nothing(
    staff, login, iv_appointment
):
    session = services.start_session(actor=actor(staff["nurse"]), appointment=iv_appointment)
    page = login(staff["nurse"])
    for step, fields in (
        ("check", {"item": "identity_confirmed", "met": "yes"}),
        ("vitals", {"systolic": "120", "diastolic": "80"}),
        ("stop", {"reason": "Patient changed their mind"}),
    ):
        refused = page.post(f"/treatment/sessions/{session.pk}/do/{step}/", fields, follow=True)
        assert "did not say which version of the session" in refused.content.decode()
    stored = TreatmentSession.objects.get(pk=session.pk)
    assert (stored.state, stored.version, stored.stop_reason) == ("pre_dose", session.version, "")
    assert stored.checklist.get(item_id="identity_confirmed").status == "pending"
    assert not VitalReading.objects.exists()


def test_a_stale_page_form_is_refused(staff, login, iv_appointment):
    session = services.start_session(actor=actor(staff["nurse"]), appointment=iv_appointment)
    page = login(staff["nurse"])
    stale = session.version
    page.post(
        f"/treatment/sessions/{session.pk}/do/check/",
        {"item": "identity_confirmed", "met": "yes", "version": stale},
    )
    again = page.post(
        f"/treatment/sessions/{session.pk}/do/check/",
        {"item": "escort_confirmed", "met": "no", "version": stale},
        follow=True,
    )
    assert "Someone else saved this session" in again.content.decode()
    assert session.checklist.get(item_id="escort_confirmed").status == "pending"


def test_the_therapist_cannot_chart_on_the_page(staff, login, iv_appointment):
    session = services.start_session(actor=actor(staff["nurse"]), appointment=iv_appointment)
    response = login(staff["therapist"]).post(
        f"/treatment/sessions/{session.pk}/do/dosing/",
        {"product": "x", "lot_number": "y", "version": session.version},
    )
    assert response.status_code == 403
    session.refresh_from_db()
    assert session.state == "pre_dose"


def test_the_chart_section_and_header_flag(staff, login, iv_appointment, patient):
    services.start_session(actor=actor(staff["nurse"]), appointment=iv_appointment)
    response = login(staff["nurse"]).get(f"/patients/{patient.pk}/")
    html = response.content.decode()
    assert "Treatment sessions" in html
    assert "In treatment: Pre-dose" in html


def test_another_clinic_cannot_open_the_session(outsider, staff, login, iv_appointment):
    session = services.start_session(actor=actor(staff["nurse"]), appointment=iv_appointment)
    assert login(outsider).get(f"/treatment/sessions/{session.pk}/").status_code == 404
    assert login(outsider).get(f"/treatment/sessions/{session.pk}/summary.pdf").status_code == 404


def test_a_stale_weight_is_fixed_from_the_checklist(staff, login, iv_appointment, patient):
    patient.weight_measured_on = clinic_today() - timedelta(days=45)
    patient.save()
    session = services.start_session(actor=actor(staff["nurse"]), appointment=iv_appointment)
    assert session.checklist.get(item_id="weight_current").status == "failed"
    page = login(staff["nurse"])
    page.post(
        f"/treatment/sessions/{session.pk}/do/weight/",
        {"weight_kg": "72.4", "version": session.version},
    )
    patient.refresh_from_db()
    assert patient.weight_kg == Decimal("72.4") and patient.weight_measured_on == clinic_today()
    assert session.checklist.get(item_id="weight_current").status == "met"
    refused = page.post(
        f"/treatment/sessions/{session.pk}/do/weight/",
        {"weight_kg": "900", "version": session.version},
        follow=True,
    )
    assert "between 25 and 350 kg" in refused.content.decode()


@pytest.mark.parametrize(("food", "kept"), [("1e308", None), ("99.95", None), ("99.94", "99.9")])
def test_fasting_hours_past_99_9_are_refused_by_field_on_the_page(
    staff, login, iv_appointment, food, kept
):
    session = services.start_session(actor=actor(staff["nurse"]), appointment=iv_appointment)
    page = login(staff["nurse"]).post(
        f"/treatment/sessions/{session.pk}/do/check/",
        {
            "item": "fasting",
            "met": "yes",
            "hours_since_food": food,
            "hours_since_liquids": "2",
            "version": session.version,
        },
        follow=True,
    )
    assert page.status_code in (200, 422)
    stored = TreatmentSession.objects.get(pk=session.pk).hours_since_food
    assert (str(stored) if stored is not None else None) == kept
    if kept is None:
        assert "Enter up to 99.9 hours." in page.content.decode()
