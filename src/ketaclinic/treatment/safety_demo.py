"""Demo: a serious adverse event with its MedWatch report drafted (the REMS one sent),
and a patient whose liver tests are due.

Idempotent: nothing is added when the demo already holds an adverse-event report, or any
liver test.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from ketaclinic.accounts.models import Clinic, Membership, User
from ketaclinic.measures.models import Alert
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling.models import TreatmentCourse
from ketaclinic.treatment.ae_reports import ALERT_CODE
from ketaclinic.treatment.models import (
    AdverseEvent,
    AdverseEventReport,
    LiverTest,
    SessionEvent,
    TreatmentSession,
)

LIVER_TESTS_AGO_DAYS = 100  # beyond the 90-day policy interval: due since 10 days
DESCRIPTION = (
    "Thirty-eight minutes after the first 28 mg device the patient could not be roused by "
    "voice (MOAA/S 1). SpO2 stayed at 95 % on 2 L/min oxygen; BP 148/92. The physician "
    "attended at the chair; the patient responded to voice at 55 minutes and went home with "
    "an escort once every discharge criterion was met."
)


def seed(clinic: Clinic, patients: list[Patient]) -> None:
    nurse = Membership.objects.filter(clinic=clinic, role="nurse").select_related("user").first()
    physician = (
        Membership.objects.filter(clinic=clinic, role="physician").select_related("user").first()
    )
    if nurse is None or physician is None or not patients:
        return
    ids = [p.pk for p in patients]
    _serious_event(clinic, ids, nurse.user, physician.user)
    _liver_tests_due(clinic, ids, physician.user)


def _serious_event(clinic: Clinic, patient_ids: list[int], nurse: User, physician: User) -> None:
    if AdverseEventReport.objects.filter(clinic=clinic).exists():
        return
    session = (
        TreatmentSession.objects.filter(
            clinic=clinic,
            patient_id__in=patient_ids,
            drug="esketamine",
            state="discharged",
            administration__isnull=False,
            dose_started_at__isnull=False,
        )
        .select_related("patient")
        .order_by("-started_at")
        .first()
    )
    if session is None or session.dose_started_at is None:
        return
    onset = session.dose_started_at + timedelta(minutes=38)
    event = AdverseEvent.objects.create(
        session=session,
        type=AdverseEvent.Type.SEDATION,
        severity=AdverseEvent.Severity.SEVERE,
        onset_at=onset,
        interventions=["physician_called", "oxygen"],
        outcome=AdverseEvent.Outcome.RESOLVED,
        serious=True,
        note="MOAA/S 1 at 38 minutes; responsive again at 55 minutes.",
        recorded_by=nurse,
        recorded_at=onset + timedelta(minutes=5),
    )
    SessionEvent.objects.create(
        session=session,
        at=onset,
        kind="adverse_event",
        text="Adverse event: Excessive sedation (severe, serious)",
        by=nurse,
    )
    Alert.objects.create(
        clinic=clinic,
        patient=session.patient,
        response=None,
        origin=f"Treatment session {session.pk}",
        code=ALERT_CODE,
        level="urgent",
        message=f"Serious adverse event in treatment session {session.pk}: Excessive sedation "
        "(severe, resolved). Assess the patient and complete the adverse-event report(s).",
        opened_at=onset + timedelta(minutes=5),
        notified_at=onset + timedelta(minutes=6),
        status="resolved",
        resolved_by=physician,
        resolved_at=onset + timedelta(minutes=40),
        action="other",
        note="Assessed at the chair; recovered fully before discharge.",
    )
    created = onset + timedelta(minutes=5)
    for kind in (AdverseEventReport.Kind.MEDWATCH, AdverseEventReport.Kind.REMS):
        report = AdverseEventReport.objects.create(
            clinic=clinic,
            event=event,
            kind=kind,
            reason=AdverseEventReport.Reason.SERIOUS,
            created_by=nurse,
            created_at=created,
        )
        # Both drafted (complete PDFs); the REMS report was phoned in the next day.
        report.draft = {
            "description": DESCRIPTION,
            "tests": "SpO2 95-97 %, respiratory rate 12 /min throughout.",
            "history": "Treatment-resistant depression; no previous sedation events.",
            "outcomes": ["required_intervention"],
        }
        report.drafted_by = physician
        report.drafted_at = created + timedelta(hours=3)
        fields = ["draft", "drafted_by", "drafted_at"]
        if kind == AdverseEventReport.Kind.REMS:
            sent = min(created + timedelta(days=1), timezone.now())
            report.submitted_on = clinic.date_of(sent)
            report.submitted_by = nurse
            report.submitted_at = sent
            report.reference = "Phoned to the REMS"
            fields += ["submitted_on", "submitted_by", "submitted_at", "reference"]
        report.save(update_fields=fields)


def _liver_tests_due(clinic: Clinic, patient_ids: list[int], physician: User) -> None:
    course = (
        TreatmentCourse.objects.filter(
            clinic=clinic,
            patient_id__in=patient_ids,
            status="active",
            protocol_code__startswith="ketamine-iv",
        )
        .order_by("patient__mrn")
        .first()
    )
    if course is None or LiverTest.objects.filter(clinic=clinic).exists():
        return
    taken = clinic.today() - timedelta(days=LIVER_TESTS_AGO_DAYS)
    LiverTest.objects.create(
        clinic=clinic,
        patient=course.patient,
        taken_on=taken,
        result=LiverTest.Result.NORMAL,
        note="ALT and AST within normal limits.",
        recorded_by=physician,
        recorded_at=timezone.now() - timedelta(days=LIVER_TESTS_AGO_DAYS - 1),
    )
