"""Issue 12, the rest: adverse-event reports (MedWatch 3500, REMS), serious events on the board
and the alert list at once, long-term monitoring (urinary symptoms, liver tests), the longer
observation for moderate hepatic impairment, and the MDSI schedule booked and dosed."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ketaclinic.audit.models import AuditEvent
from ketaclinic.measures.models import Alert
from ketaclinic.patients.models import Condition
from ketaclinic.scheduling import services as scheduling
from ketaclinic.scheduling.models import Appointment, TreatmentCourse
from ketaclinic.screening.models import IntakeVersion
from ketaclinic.treatment import ae_reports
from ketaclinic.treatment.models import AdverseEventReport, LiverTest, SessionAlert

from .conftest import actor, api_post, fasted, make_appointment, pdf_text
from .test_safety_second_pass import session_under_way, vitals

SERIOUS = {
    "type": "respiratory_depression",
    "severity": "severe",
    "outcome": "transferred",
    "interventions": ["oxygen", "physician_called", "emergency_services"],
    "serious": True,
    "note": "SpO2 84 % at 35 min, RR 6",
}
DRAFT = {
    "description": "35 minutes after the first device the patient became unresponsive to voice.",
    "tests": "SpO2 84 %, RR 6 /min",
    "history": "No prior episodes.",
    "outcomes": ["hospitalization", "required_intervention"],
}


def today():
    """The clinic's date (New York): after midnight UTC the server's date is its tomorrow."""
    from ketaclinic.accounts.models import Clinic

    return Clinic.objects.get(slug="harbor").today()


def put(client, url, body):
    return client.put(url, data=json.dumps(body), content_type="application/json")


def dosed_esketamine(staff, api_client, appointment, clinic, patient):
    """An esketamine session with its devices given (lot ESK-77)."""
    nurse, sid = session_under_way(staff, api_client, appointment, clinic, patient)
    vitals(nurse, sid, minutes_ago=2)
    body = nurse.get(f"/api/v1/sessions/{sid}").json()
    for row in body["checklist"]:
        if not row["automatic"] and row["status"] == "pending":
            body = api_post(
                nurse,
                f"/api/v1/sessions/{sid}/checklist/{row['item']}",
                {"met": True, "version": body["version"], **fasted(row["item"])},
            ).json()
    response = api_post(
        nurse,
        f"/api/v1/sessions/{sid}/dosing",
        {"product": "Spravato 28 mg", "lot_number": "ESK-77", "version": body["version"]},
    )
    assert response.status_code == 200, response.content
    devices = response.json()["administration"]["devices_planned"]
    start = timezone.now() - timedelta(minutes=5 * devices)
    for n in range(devices):
        given = api_post(
            nurse,
            f"/api/v1/sessions/{sid}/devices",
            {"given_at": (start + timedelta(minutes=5 * n)).isoformat()},
        )
        assert given.status_code == 201, given.content
    return nurse, sid


@pytest.fixture
def serious(
    staff, api_client, esk_appointment, clinic, esk_patient, django_capture_on_commit_callbacks
):
    clinic.phone = "+1 555 0100"
    clinic.save()
    staff["physician"].user.email = "chen@example.org"
    staff["physician"].user.save()
    nurse, sid = dosed_esketamine(staff, api_client, esk_appointment, clinic, esk_patient)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_post(nurse, f"/api/v1/sessions/{sid}/adverse-events", SERIOUS)
    assert response.status_code == 201, response.content
    return {"nurse": nurse, "sid": sid}


# --- a serious event reaches the board and the alert list at once --------------------------


def test_a_serious_event_shows_on_the_chair_board_and_the_alert_list_at_once(
    serious, staff, login, esk_patient
):
    sid = serious["sid"]
    at_chair = SessionAlert.objects.get(session_id=sid, code="serious_adverse_event")
    assert at_chair.level == "urgent"
    board = login(staff["nurse"]).get("/treatment/board/").content.decode()
    assert "URGENT · Serious adverse event" in board
    alerts = login(staff["physician"]).get("/alerts/").content.decode()
    assert "Serious adverse event in treatment session" in alerts
    alert = Alert.objects.get(patient=esk_patient, code="serious_adverse_event")
    assert (alert.level, alert.status) == ("urgent", "open")
    # One e-mail (ids and a link, no name), and the alert counts as notified.
    assert len(mail.outbox) == 1
    assert esk_patient.family_name not in mail.outbox[0].body
    assert alert.notified_at is not None


def test_a_serious_esketamine_event_owes_a_medwatch_and_a_rems_report(serious):
    reports = AdverseEventReport.objects.filter(event__session_id=serious["sid"])
    assert sorted((r.kind, r.status, r.reason) for r in reports) == [
        ("medwatch", "due", "serious"),
        ("rems", "due", "serious"),
    ]
    assert AuditEvent.objects.filter(action="ae_report_due").count() == 2


# --- the reports page ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status"),
    [("admin", 200), ("physician", 200), ("nurse", 200), ("therapist", 403), ("front_desk", 403)],
)
def test_the_reports_page_by_role(serious, staff, login, role, status):
    response = login(staff[role]).get("/treatment/adverse-event-reports/")
    assert response.status_code == status
    if status == 200:
        html = response.content.decode()
        assert "FDA MedWatch Form 3500" in html and "SPRAVATO REMS adverse event report" in html


def test_the_reports_page_costs_the_same_with_more_reports(serious, staff, login, esk_patient):
    page = login(staff["admin"])
    page.get("/treatment/adverse-event-reports/")
    with CaptureQueriesContext(connection) as few:
        page.get("/treatment/adverse-event-reports/")
    event = AdverseEventReport.objects.first().event
    for n in range(6):
        event.pk = None
        event.save()
        AdverseEventReport.objects.create(
            clinic=event.session.clinic,
            event=event,
            kind="medwatch",
            reason="physician",
            created_by=staff["physician"].user,
            created_at=timezone.now() - timedelta(days=n),
        )
    with CaptureQueriesContext(connection) as many:
        page.get("/treatment/adverse-event-reports/")
    assert len(many) == len(few)


def test_a_nurse_drafts_and_the_admin_records_the_submission(serious, staff, login):
    report = AdverseEventReport.objects.get(event__session_id=serious["sid"], kind="medwatch")
    url = f"/treatment/adverse-event-reports/{report.pk}/"
    nurse = login(staff["nurse"])
    refused = nurse.post(url, {"step": "draft", "description": ""})
    assert refused.status_code == 422
    assert "This field is required" in refused.content.decode()
    report.refresh_from_db()
    assert report.status == "due"
    saved = nurse.post(url, {"step": "draft", **DRAFT})
    assert saved.status_code == 302
    report.refresh_from_db()
    assert report.status == "drafted" and report.drafted_by == staff["nurse"].user
    assert ae_reports.missing(report) == []

    admin = login(staff["admin"])
    future = str(today() + timedelta(days=2))
    refused = admin.post(url, {"step": "submitted", "submitted_on": future})
    assert refused.status_code == 422 and "This date is in the future." in refused.content.decode()
    report.refresh_from_db()
    assert report.submitted_on is None
    done = admin.post(url, {"step": "submitted", "submitted_on": str(today()), "reference": "MW-1"})
    assert done.status_code == 302
    listing = admin.get("/treatment/adverse-event-reports/").content.decode()
    submitted = listing[listing.index('id="submitted-h"') :]
    assert "FDA MedWatch Form 3500" in submitted
    assert staff["admin"].user.get_full_name() in submitted
    report.refresh_from_db()
    assert (report.status, report.submitted_by, report.reference) == (
        "submitted",
        staff["admin"].user,
        "MW-1",
    )
    # A submitted report does not change.
    again = nurse.post(url, {"step": "draft", **DRAFT, "description": "changed"})
    assert again.status_code == 422
    report.refresh_from_db()
    assert report.draft["description"] == DRAFT["description"]


def test_submission_needs_a_draft_first(serious, staff, api_client):
    report = AdverseEventReport.objects.get(event__session_id=serious["sid"], kind="rems")
    response = api_post(
        api_client(staff["admin"]),
        f"/api/v1/adverse-event-reports/{report.pk}/submitted",
        {"submitted_on": str(today())},
    )
    assert response.status_code == 422
    assert "Save the draft first" in response.content.decode()
    report.refresh_from_db()
    assert report.submitted_on is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "description"),
        ({"description": "  "}, "description"),
        ({"description": "x", "outcomes": ["<script>"]}, "outcomes"),
        ({"description": "x", "outcomes": ["death"]}, "death_date"),
        ({"description": "x" * 5000}, "description"),
        ({"description": "x", "death_date": "2020-01-01"}, "death_date"),
    ],
)
def test_a_bad_draft_is_refused_naming_the_field(serious, staff, api_client, body, field):
    report = AdverseEventReport.objects.get(event__session_id=serious["sid"], kind="medwatch")
    response = put(
        api_client(staff["physician"]), f"/api/v1/adverse-event-reports/{report.pk}/draft", body
    )
    assert response.status_code == 422, response.content
    assert field in response.content.decode()
    report.refresh_from_db()
    assert (report.status, report.draft) == ("due", {})


def test_the_api_twin_drafts_and_shows_the_prefilled_report(serious, staff, api_client):
    report = AdverseEventReport.objects.get(event__session_id=serious["sid"], kind="medwatch")
    nurse = api_client(staff["nurse"])
    response = put(nurse, f"/api/v1/adverse-event-reports/{report.pk}/draft", DRAFT)
    assert response.status_code == 200, response.content
    body = response.json()
    values = {f["field"]: f["value"] for s in body["sections"] for f in s["fields"]}
    assert values["patient_initials"] == "TB"
    assert values["age"].endswith("years")
    assert (values["dose"], values["lot"]) == ("56 mg", "ESK-77")
    assert values["outcomes"] == (
        "Hospitalization (initial or prolonged); "
        "Required intervention to prevent permanent impairment or damage"
    )
    assert body["status"] == "drafted" and body["missing"] == []
    listing = nurse.get("/api/v1/adverse-event-reports").json()
    assert [(r["kind"], r["status"]) for r in listing] == [("rems", "due"), ("medwatch", "drafted")]
    assert api_client(staff["therapist"]).get("/api/v1/adverse-event-reports").status_code == 403


def test_both_pdfs_carry_the_event_and_the_product(serious, staff, login):
    page = login(staff["nurse"])
    for report in AdverseEventReport.objects.filter(event__session_id=serious["sid"]):
        ae_reports.save_draft(actor=actor(staff["nurse"]), report=report, **DRAFT)
        response = page.get(f"/treatment/adverse-event-reports/{report.pk}/report.pdf")
        assert response["Content-Type"] == "application/pdf"
        text = " ".join(pdf_text(response.content).split())
        for expected in ("TB", "ESK-77", "56 mg", "unresponsive to voice", "Hospitalization"):
            assert expected in text, (report.kind, expected)
        assert "Berg" not in text  # initials only, never the name
    assert (
        AuditEvent.objects.filter(
            action="download", object_type="treatment.adverseeventreport"
        ).count()
        == 2
    )


def test_another_clinic_sees_no_report(serious, outsider, api_client, login):
    report = AdverseEventReport.objects.first()
    assert api_client(outsider).get(f"/api/v1/adverse-event-reports/{report.pk}").status_code == 404
    assert login(outsider).get(f"/treatment/adverse-event-reports/{report.pk}/").status_code == 404


# --- marking an event reportable -----------------------------------------------------------


def test_only_a_physician_marks_an_event_reportable_with_a_reason(
    staff, api_client, iv_appointment, clinic, patient
):
    nurse, sid = session_under_way(staff, api_client, iv_appointment, clinic, patient)
    event = api_post(
        nurse,
        f"/api/v1/sessions/{sid}/adverse-events",
        {"type": "nausea_vomiting", "severity": "moderate", "outcome": "resolved"},
    )
    assert event.status_code == 201
    event_id = (
        api_client(staff["nurse"]).get(f"/api/v1/sessions/{sid}").json()["adverse_events"][0]["id"]
    )
    url = f"/api/v1/sessions/{sid}/adverse-events/{event_id}/reportable"
    assert api_post(nurse, url, {"reason": "x"}).status_code == 403
    physician = api_client(staff["physician"])
    empty = api_post(physician, url, {"reason": " "})
    assert empty.status_code == 422 and "reason" in empty.content.decode()
    assert not AdverseEventReport.objects.exists()
    made = api_post(physician, url, {"reason": "Unexpected <b>prolonged</b> vomiting"})
    assert made.status_code == 201, made.content
    assert [(r["kind"], r["reason"]) for r in made.json()] == [("medwatch", "physician")]
    assert api_post(physician, url, {"reason": "again"}).status_code == 422
    assert AdverseEventReport.objects.count() == 1


# --- long-term monitoring ---------------------------------------------------------------------


def test_liver_tests_are_due_at_the_protocol_interval_and_shown_on_chart_and_checklist(
    staff, api_client, login, iv_appointment, clinic, patient
):
    course = iv_appointment.course
    TreatmentCourse.objects.filter(pk=course.pk).update(start_date=today() - timedelta(days=95))
    chart = login(staff["nurse"]).get(f"/patients/{patient.pk}/").content.decode()
    assert "Liver tests due" in chart
    nurse, sid = session_under_way(staff, api_client, iv_appointment, clinic, patient)
    rows = {r["item"]: r for r in nurse.get(f"/api/v1/sessions/{sid}").json()["checklist"]}
    liver = rows["liver_tests_current"]
    assert (liver["status"], liver["blocks"]) == ("failed", False)
    assert "Liver tests due" in liver["finding"]

    physician = api_client(staff["physician"])
    bad = api_post(
        physician,
        f"/api/v1/patients/{patient.pk}/liver-tests",
        {"taken_on": str(today() + timedelta(days=1)), "result": "normal"},
    )
    assert bad.status_code == 422 and "taken_on" in bad.content.decode()
    abnormal = api_post(
        physician,
        f"/api/v1/patients/{patient.pk}/liver-tests",
        {"taken_on": str(today()), "result": "abnormal"},
    )
    assert abnormal.status_code == 422 and "note" in abnormal.content.decode()
    assert not LiverTest.objects.exists()
    ok = api_post(
        physician,
        f"/api/v1/patients/{patient.pk}/liver-tests",
        {"taken_on": str(today()), "result": "normal"},
    )
    assert ok.status_code == 201, ok.content
    rows = {r["item"]: r for r in nurse.get(f"/api/v1/sessions/{sid}").json()["checklist"]}
    assert rows["liver_tests_current"]["status"] == "met"
    chart = login(staff["nurse"]).get(f"/patients/{patient.pk}/").content.decode()
    assert "Liver tests current" in chart
    assert (
        api_post(
            api_client(staff["therapist"]),
            f"/api/v1/patients/{patient.pk}/liver-tests",
            {"taken_on": str(today()), "result": "normal"},
        ).status_code
        == 403
    )


@pytest.mark.parametrize("role", ["physician", "nurse"])
def test_the_liver_test_page_takes_valid_empty_and_hostile_input(staff, login, patient, role):
    page = login(staff[role])
    assert page.get(f"/treatment/patients/{patient.pk}/liver-tests/").status_code == 200
    url = f"/treatment/patients/{patient.pk}/liver-tests/new/"
    assert page.post(url, {}).status_code == 422
    assert page.post(url, {"taken_on": "<script>", "result": "x" * 50}).status_code == 422
    assert not LiverTest.objects.exists()
    done = page.post(url, {"taken_on": str(today()), "result": "normal"})
    assert done.status_code == 302
    assert LiverTest.objects.count() == 1


@pytest.mark.parametrize("role", ["admin", "therapist", "front_desk"])
def test_roles_that_do_not_chart_cannot_record_liver_tests(staff, login, patient, role):
    url = f"/treatment/patients/{patient.pk}/liver-tests/new/"
    response = login(staff[role]).post(url, {"taken_on": str(today()), "result": "normal"})
    assert response.status_code == 403
    assert not LiverTest.objects.exists()


def test_urinary_symptoms_are_asked_at_every_session_after_the_induction(
    staff, api_client, iv_appointment, clinic, patient
):
    nurse, sid = session_under_way(staff, api_client, iv_appointment, clinic, patient)
    items = [r["item"] for r in nurse.get(f"/api/v1/sessions/{sid}").json()["checklist"]]
    assert "urinary_symptoms_asked" not in items  # still in induction
    course = iv_appointment.course
    TreatmentCourse.objects.filter(pk=course.pk).update(phase="maintenance")
    room = iv_appointment.room
    later = make_appointment(clinic, patient, course, room)
    Appointment.objects.filter(pk=iv_appointment.pk).update(status="completed")
    body = api_post(nurse, f"/api/v1/appointments/{later.pk}/session")
    assert body.status_code == 201, body.content
    rows = {r["item"]: r for r in body.json()["checklist"]}
    assert rows["urinary_symptoms_asked"]["hard_stop"] is False
    reported = api_post(
        nurse,
        f"/api/v1/sessions/{body.json()['id']}/checklist/urinary_symptoms_asked",
        {"met": False, "finding": "Urgency since last week", "version": body.json()["version"]},
    )
    assert reported.status_code == 200, reported.content
    from ketaclinic.treatment.longterm import monitoring_for_patient

    [row] = monitoring_for_patient(patient)
    assert row.urinary_every_session
    assert "symptoms reported" in row.urinary_last and "Urgency since last week" in row.urinary_last


# --- moderate hepatic impairment lengthens the observation ------------------------------------


def test_moderate_hepatic_impairment_lengthens_the_esketamine_observation(
    staff, api_client, login, esk_appointment, clinic, esk_patient
):
    IntakeVersion.objects.create(
        clinic=clinic,
        patient=esk_patient,
        version=1,
        data={"history_asked": True, "history": ["hepatic_impairment_moderate"]},
        created_by=staff["physician"].user,
    )
    nurse, sid = dosed_esketamine(staff, api_client, esk_appointment, clinic, esk_patient)
    from ketaclinic.treatment import services
    from ketaclinic.treatment.models import TreatmentSession

    session = TreatmentSession.objects.get(pk=sid)
    assert session.observation_minutes == 180
    assert "Hepatic impairment moderate" in session.observation_reason
    earliest = services.earliest_discharge(session, services.session_protocol(session))
    assert earliest == session.dose_started_at + timedelta(minutes=180)
    # At 150 minutes the 2-hour minimum is past, the patient's 3 hours are not.
    unmet = services.discharge_unmet(
        session,
        services.session_protocol(session),
        session.dose_started_at + timedelta(minutes=150),
    )
    observation = [u for u in unmet if u.code == "observation_time"]
    assert observation and "180" in observation[0].message
    html = login(staff["nurse"]).get(f"/treatment/sessions/{sid}/").content.decode()
    assert "Longer observation" in html


def test_without_hepatic_impairment_the_observation_stays_two_hours(
    staff, api_client, esk_appointment, clinic, esk_patient
):
    nurse, sid = dosed_esketamine(staff, api_client, esk_appointment, clinic, esk_patient)
    from ketaclinic.treatment.models import TreatmentSession

    assert TreatmentSession.objects.get(pk=sid).observation_minutes is None


# --- the MDSI schedule books and doses -----------------------------------------------------


def test_the_mdsi_course_is_planned_booked_and_dosed(
    staff, api_client, esk_patient, clinic, chairs, monkeypatch
):
    from datetime import time

    from ketaclinic.scheduling.models import OpeningHours, StaffHours

    monkeypatch.setattr(scheduling.gates, "missing_for_course", lambda **kw: [])
    for weekday in range(5):
        OpeningHours.objects.create(clinic=clinic, weekday=weekday, opens=time(8), closes=time(18))
        for role in ("nurse", "physician"):
            StaffHours.objects.create(
                clinic=clinic,
                membership=staff[role],
                weekday=weekday,
                starts=time(8),
                ends=time(18),
            )
    for code in ("mdd", "suicidal_ideation"):
        Condition.objects.create(clinic=clinic, patient=esk_patient, code=code)
    physician = api_client(staff["physician"])
    monday = today() + timedelta(days=7 - today().weekday())
    created = api_post(
        physician,
        f"/api/v1/patients/{esk_patient.pk}/courses",
        {"protocol": "esketamine-nasal-mdsi", "start_date": str(monday)},
    )
    assert created.status_code == 201, created.content
    course_id = created.json()["id"]
    activated = api_post(physician, f"/api/v1/courses/{course_id}/activate")
    assert activated.status_code in (200, 201), activated.content
    desk = api_client(staff["front_desk"])
    proposal = api_post(desk, f"/api/v1/courses/{course_id}/plan", {}).json()
    assert len(proposal["sessions"]) == 8  # 84 mg twice weekly for 4 weeks
    starts = [s["start"] for s in proposal["sessions"]]
    gaps = [
        (timezone.datetime.fromisoformat(b) - timezone.datetime.fromisoformat(a)).total_seconds()
        for a, b in zip(starts, starts[1:], strict=False)
    ]
    assert min(gaps) >= 48 * 3600
    booked = api_post(
        desk,
        f"/api/v1/courses/{course_id}/book",
        {"sessions": [{"start": s["start"], "room": s["room"]} for s in proposal["sessions"]]},
    )
    assert booked.status_code == 201, booked.content
    assert Appointment.objects.filter(course_id=course_id, kind="treatment").count() == 8
    first = Appointment.objects.filter(course_id=course_id).order_by("start").first()
    Appointment.objects.filter(pk=first.pk).update(status="checked_in")
    first.refresh_from_db()
    nurse, sid = dosed_esketamine(staff, api_client, first, clinic, esk_patient)
    body = nurse.get(f"/api/v1/sessions/{sid}").json()
    assert body["administration"]["dose_mg"] in (84, "84.00", "84")
    assert body["administration"]["devices_planned"] == 3
