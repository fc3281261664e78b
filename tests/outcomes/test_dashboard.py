"""The clinic's outcome figures: API shapes, agreement with per-patient outcomes, roles, audit, cost."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.audit.models import AuditEvent
from ketaclinic.measures import services as measures
from ketaclinic.outcomes import services
from ketaclinic.outcomes.models import InstrumentOutcome, PatientCohort
from ketaclinic.outcomes.upkeep import backfill
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling.models import TreatmentCourse
from tests.outcomes.factories import history

pytestmark = pytest.mark.django_db

GROUP_KEYS = {
    "key",
    "label",
    "patients",
    "with_baseline",
    "with_followup",
    "responders",
    "response_rate",
    "response_ci",
    "remitters",
    "remission_rate",
    "remission_ci",
    "median_change",
    "median_days_to_response",
    "dropouts",
}


@pytest.fixture
def clinic_history(clinic, staff):
    return history(clinic, staff, patients=60)


def _per_patient_responders(api, clinic, instrument):
    """Patients whose /patients/{id}/outcomes says response: true for the instrument."""
    found = set()
    for patient in Patient.objects.filter(clinic=clinic):
        rows = api.get(f"/api/v1/patients/{patient.pk}/outcomes").json()["instruments"]
        if any(r["instrument"] == instrument and r["response"] is True for r in rows):
            found.add(patient.pk)
    return found


def test_the_summary_answers_the_documented_shape(clinic_history, staff, api_client):
    response = api_client(staff["physician"]).get(
        "/api/v1/outcomes/summary?instrument=phq9&group_by=protocol"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["instrument"] == "phq9"
    assert body["groups"]
    for group in body["groups"]:
        assert set(group) == GROUP_KEYS
        if group["response_ci"] is not None:
            low, high = group["response_ci"]
            assert low <= group["response_rate"] <= high


@pytest.mark.parametrize("group_by", ["protocol", "condition", "physician", "course_number"])
def test_the_groups_add_up_to_the_whole_clinic(clinic_history, clinic, staff, api_client, group_by):
    Patient.objects.create(
        clinic=clinic, mrn="NEW1", given_name="Ana", family_name="Lima",
        birth_date="1990-01-01", sex_at_birth="female",
    )  # fmt: skip
    backfill(clinic.pk)  # created directly, without the service's hook
    body = (
        api_client(staff["admin"])
        .get(f"/api/v1/outcomes/summary?instrument=phq9&group_by={group_by}")
        .json()
    )
    assert (
        sum(g["patients"] for g in body["groups"]) == Patient.objects.filter(clinic=clinic).count()
    )
    no_course = [g for g in body["groups"] if g["key"] == "none"]
    assert no_course and no_course[0]["label"] == "No treatment course"
    assert (
        no_course[0]["patients"]
        == Patient.objects.filter(clinic=clinic)
        .exclude(pk__in=TreatmentCourse.objects.values("patient_id"))
        .count()
    )


@pytest.mark.parametrize("instrument", ["phq9", "gad7"])
def test_responders_are_exactly_the_patients_whose_own_outcomes_say_so(
    clinic_history, clinic, staff, api_client, instrument
):
    api = api_client(staff["physician"])
    expected = _per_patient_responders(api, clinic, instrument)
    assert expected  # the history has responders
    body = api.get(f"/api/v1/outcomes/summary?instrument={instrument}&group_by=protocol").json()
    assert sum(g["responders"] for g in body["groups"]) == len(expected)
    filters = services.Filters(instrument=instrument)
    behind = services.patients_behind(clinic, filters, measure="responders", key="all")
    assert set(behind.values_list("pk", flat=True)) == expected


def test_a_questionnaire_saved_through_the_service_updates_the_rows(
    clinic, staff, patient, django_capture_on_commit_callbacks
):
    nurse = Actor(user=staff["nurse"].user, membership=staff["nurse"])
    with django_capture_on_commit_callbacks(execute=True):
        measures.record_response(
            actor=nurse, patient=patient, instrument="phq9", answers=[2, 2, 2, 2, 2, 2, 1, 1, 0]
        )
    row = InstrumentOutcome.objects.get(patient=patient, instrument="phq9")
    assert (row.baseline, row.latest, row.has_follow_up, row.response) == (14, 14, False, None)
    cohort = PatientCohort.objects.get(patient=patient)
    assert (cohort.treated, cohort.courses, cohort.family) == (False, 0, "")
    with django_capture_on_commit_callbacks(execute=True):
        measures.record_response(
            actor=nurse, patient=patient, instrument="phq9", answers=[1, 1, 1, 1, 1, 1, 0, 0, 0]
        )
    row = InstrumentOutcome.objects.get(patient=patient, instrument="phq9")
    # No treatment yet: the first score is the baseline, and 6 is 57 % lower.
    assert (row.baseline, row.latest, row.change, row.response) == (14, 6, -8, True)
    assert [r["response"] for r in measures.outcomes_for(actor=nurse, patient=patient)] == [True]


def test_a_rolled_back_write_leaves_the_rows_as_they_were(
    clinic, staff, patient, django_capture_on_commit_callbacks
):
    nurse = Actor(user=staff["nurse"].user, membership=staff["nurse"])
    with pytest.raises(Exception), django_capture_on_commit_callbacks(execute=True):  # noqa: B017
        measures.record_response(actor=nurse, patient=patient, instrument="phq9", answers=[9] * 9)
    assert not InstrumentOutcome.objects.filter(patient=patient).exists()


def test_a_drop_out_is_a_course_that_ended_or_lapsed_before_its_induction(clinic, staff):
    history(clinic, staff, patients=40)
    now = timezone.now()
    cohorts = PatientCohort.objects.filter(clinic=clinic)
    dropped = set(cohorts.filter(services.dropout_q(now)).values_list("pk", flat=True))
    for cohort in cohorts:
        ended_short = (
            cohort.treated
            and cohort.sessions_given < cohort.planned_sessions
            and (
                cohort.course_status in ("completed", "stopped")
                or cohort.last_session_at < now - timedelta(days=30)
            )
        )
        assert (cohort.pk in dropped) == bool(ended_short)
    assert dropped
    # A running course whose last dose was yesterday is censored, not dropped.
    running = cohorts.filter(treated=True, course_status="active").first()
    if running is not None:
        PatientCohort.objects.filter(pk=running.pk).update(
            last_session_at=now - timedelta(days=1), sessions_given=1, planned_sessions=6
        )
        assert not cohorts.filter(services.dropout_q(now), pk=running.pk).exists()


def _dashboard_queries(client):
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/outcomes/").status_code == 200
    return len(queries)


def test_the_dashboards_query_count_does_not_grow_with_the_clinic(clinic, staff, login):
    history(clinic, staff, patients=15, prefix="AA", seed=1)
    client = login(staff["physician"])
    small = _dashboard_queries(client)
    history(clinic, staff, patients=90, prefix="BB", seed=2)
    assert PatientCohort.objects.filter(clinic=clinic).count() == 105
    assert _dashboard_queries(client) == small
    assert small <= 25


@pytest.mark.parametrize("role", ["nurse", "therapist", "front_desk"])
def test_other_roles_are_refused_and_see_nothing(clinic_history, staff, login, api_client, role):
    before = AuditEvent.objects.count()
    assert login(staff[role]).get("/outcomes/").status_code == 403
    assert login(staff[role]).get("/outcomes/patients/?measure=patients").status_code == 403
    assert login(staff[role]).get("/outcomes/export/summary/").status_code == 403
    assert api_client(staff[role]).get("/api/v1/outcomes/summary").status_code == 403
    assert api_client(staff[role]).get("/api/v1/outcomes/safety").status_code == 403
    assert not AuditEvent.objects.filter(pk__gt=before, action="outcomes_drilldown").exists()


def test_another_clinics_physician_sees_only_their_own_clinic(
    clinic_history, outsider, api_client, login
):
    body = api_client(outsider).get("/api/v1/outcomes/summary").json()
    assert body["groups"] == []
    page = login(outsider).get("/outcomes/patients/?measure=patients&key=all")
    assert page.status_code == 200
    assert page.context["page"].paginator.count == 0
    assert api_client(outsider).get("/api/v1/public/outcomes?clinic=northside").status_code == 404


def test_the_list_behind_a_number_is_audited_with_ids_only(clinic_history, clinic, staff, login):
    client = login(staff["physician"])
    response = client.get(
        "/outcomes/patients/?instrument=phq9&group_by=protocol&measure=responders&key=all"
    )
    assert response.status_code == 200
    shown = [p.pk for p in response.context["patients"]]
    assert shown
    event = AuditEvent.objects.filter(action="outcomes_drilldown").latest("pk")
    assert event.user == staff["physician"].user
    assert event.detail["shown"] == shown
    assert event.detail["query"]["measure"] == "responders"
    some = Patient.objects.get(pk=shown[0])
    assert some.family_name not in str(event.detail)
    assert some.family_name in response.content.decode()


def test_safety_counts_events_per_100_sessions(clinic_history, staff, api_client):
    from ketaclinic.treatment.models import AdverseEvent, TreatmentSession

    body = api_client(staff["admin"]).get("/api/v1/outcomes/safety").json()
    sessions = TreatmentSession.objects.filter(dose_started_at__isnull=False).count()
    events = AdverseEvent.objects.count()
    assert body["sessions"] == sessions
    assert body["adverse_events"]["total"] == events
    assert body["adverse_events"]["per_100"] == pytest.approx(events * 100 / sessions)
    assert body["rems_forms"]["total"] == sum(
        1 for s in TreatmentSession.objects.filter(drug="esketamine")
    )


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("instrument=xyz", "instrument"),
        ("group_by=%00", "group_by"),
        ("from=2026-05-01&to=2026-01-01", "to"),
        ("from=9999-12-31", "from"),
        ("to=" + "9" * 10_000, "to"),
    ],
)
def test_bad_filters_are_refused_naming_the_field(
    clinic_history, staff, api_client, login, query, field
):
    response = api_client(staff["physician"]).get(f"/api/v1/outcomes/summary?{query}")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == field
    page = login(staff["physician"]).get(f"/outcomes/?{query}")
    assert page.status_code == 200
    assert page.context["errors"][field]


@pytest.mark.parametrize(
    "query",
    [
        "measure=<script>",
        "measure=responders&key=%00",
        "measure=adverse_events&type=" + "x" * 10_000,
    ],
)
def test_hostile_drill_down_input_never_fails(clinic_history, staff, login, query):
    assert login(staff["physician"]).get(f"/outcomes/patients/?{query}").status_code in (200, 404)


def test_csv_exports_every_table(clinic_history, staff, login):
    client = login(staff["admin"])
    for table in ("summary", "adverse_events", "operations", "dropout_reasons"):
        response = client.get(f"/outcomes/export/{table}/?instrument=gad7&group_by=condition")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        assert len(response.content.decode().splitlines()) >= 2
    assert client.get("/outcomes/export/nothing/").status_code == 404


def test_prescribing_and_ending_a_course_updates_the_patients_group(
    clinic, staff, patient, django_capture_on_commit_callbacks
):
    from ketaclinic.scheduling import services as scheduling

    doctor = Actor(user=staff["physician"].user, membership=staff["physician"])
    with django_capture_on_commit_callbacks(execute=True):
        course = scheduling.create_course(
            actor=doctor,
            patient=patient,
            protocol_code="ketamine-iv-mood",
            start_date=clinic.today(),
            dose_mg_per_kg=Decimal("0.5"),
        )
    cohort = PatientCohort.objects.get(patient=patient)
    assert (cohort.courses, cohort.family, cohort.physician_id) == (
        1,
        "ketamine-iv-mood",
        staff["physician"].user.pk,
    )
    assert (cohort.treated, cohort.course_status) == (False, "planned")
    with django_capture_on_commit_callbacks(execute=True):
        scheduling.end_course(actor=doctor, course=course, status="stopped", reason="Moved away")
    cohort = PatientCohort.objects.get(patient=patient)
    assert (cohort.course_status, cohort.course_stop_reason) == ("stopped", "Moved away")
    # Stopped before any dose: not treated, so not a drop-out of treatment.
    assert not PatientCohort.objects.filter(
        services.dropout_q(timezone.now()), pk=cohort.pk
    ).exists()
