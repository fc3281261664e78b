"""Demo data for this capability, called by seed_demo (idempotent).

Every past (completed) treatment appointment of an active course gets a discharged,
signed and co-signed session: checklist met, the course's dose, a vitals series whose
blood pressure peaks about 40 minutes after the dose (one IV session crosses 180 mmHg
and carries a hypertension alert), MOAA/S and CADSS-6 at 0/40 minutes and before
discharge, and for esketamine a REMS form (older ones submitted). Two sessions run
today (one IV infusion, one esketamine) so the chair board shows them. Rows are written
directly (the services refuse back-dated times); appointments that already have a
session are skipped.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Q
from django.utils import timezone

from ketaclinic.accounts.models import Membership
from ketaclinic.clinical.dosing import DoseError, calculate_dose
from ketaclinic.clinical.monitoring import vital_alerts
from ketaclinic.scheduling.models import Appointment
from ketaclinic.scheduling.services import course_protocol, current_order
from ketaclinic.treatment import checklist as checks
from ketaclinic.treatment.models import (
    ACTIVE_STATES,
    Administration,
    ChecklistResult,
    DeviceDose,
    Observation,
    RemsForm,
    SessionAlert,
    SessionEvent,
    TreatmentSession,
    VitalReading,
)

# Minutes from the dose -> (systolic, diastolic, heart rate); the 40-minute peak.
IV_CURVE = [
    (-5, 124, 78, 72),
    (10, 134, 84, 76),
    (20, 142, 88, 80),
    (30, 150, 92, 82),
    (40, 156, 94, 84),
    (55, 146, 90, 80),
    (70, 134, 84, 76),
    (85, 126, 80, 72),
]
ESK_CURVE = [(-10, 126, 80, 70), (40, 150, 92, 80), (80, 136, 86, 74), (120, 126, 80, 70)]


def seed(clinic: Any, patients: list[Any]) -> None:
    """Extend the demo clinic; `patients` are the clinic's demo patients by MRN order."""
    nurse = Membership.objects.filter(clinic=clinic, role="nurse").select_related("user").first()
    physician = (
        Membership.objects.filter(clinic=clinic, role="physician").select_related("user").first()
    )
    if nurse is None or physician is None:
        return
    now = timezone.now()
    past = list(
        Appointment.objects.filter(
            clinic=clinic,
            kind="treatment",
            status="completed",
            course__status="active",
            treatment_session__isnull=True,
            end__lte=now,
        )
        .select_related("course", "patient", "room")
        .order_by("start")
    )
    hypertension_done = TreatmentSession.objects.filter(
        clinic=clinic, alerts__code="hypertension"
    ).exists()
    for appointment in past:
        spike = not hypertension_done and appointment.course.protocol_code.startswith("ketamine-iv")
        _completed_session(appointment, nurse, physician, spike=spike)
        hypertension_done = hypertension_done or spike
    if not TreatmentSession.objects.filter(clinic=clinic, state__in=ACTIVE_STATES).exists():
        _today(clinic, nurse, now)


def _dose(protocol: Any, patient: Any, order: Any, day: Any) -> Any:
    try:
        return calculate_dose(
            protocol,
            weight_kg=patient.weight_kg or 70,
            height_cm=patient.height_cm,
            sex_at_birth=patient.sex_at_birth,
            dose_mg_per_kg=order.dose_mg_per_kg if order else None,
            dose_mg=order.dose_mg if order else None,
            weight_basis=(order.weight_basis or None) if order else None,
            today=day,
        )
    except DoseError:
        return calculate_dose(protocol, weight_kg=patient.weight_kg or 70, today=day)


def _session(
    appointment: Any, nurse: Membership, started: datetime, **fields: Any
) -> TreatmentSession:
    course = appointment.course
    protocol = course_protocol(course)
    session = TreatmentSession.objects.create(
        clinic_id=appointment.clinic_id,
        patient=appointment.patient,
        appointment=appointment,
        course=course,
        room=appointment.room,
        protocol_code=protocol.code,
        protocol_version=protocol.version,
        drug=protocol.drug,
        route=protocol.route,
        started_at=started,
        started_by=nurse.user,
        pregnancy_possible=checks.pregnancy_possible_default(appointment.patient, started.date()),
        first_session=not TreatmentSession.objects.filter(course=course).exists(),
        **fields,
    )
    ChecklistResult.objects.bulk_create(
        ChecklistResult(
            session=session,
            position=i,
            item_id=item.id,
            label=item.label,
            hard_stop=item.hard_stop,
            automatic=item.id in checks.AUTOMATIC_ITEMS,
            status="met",
            finding="Checked (demo).",
            checked_by=None if item.id in checks.AUTOMATIC_ITEMS else nurse.user,
            checked_at=started,
        )
        for i, item in enumerate(protocol.checklist_for(checks.conditions_for(session)))
    )
    return session


def _administer(
    session: TreatmentSession, nurse: Membership, dose_at: datetime, *, ended: bool
) -> Any:
    protocol = course_protocol(session.course)
    result = _dose(protocol, session.patient, current_order(session.course), dose_at.date())
    fixed = result.devices is not None
    given = Decimal(result.devices) if fixed else result.volume_ml
    Administration.objects.create(
        session=session,
        drug=protocol.drug,
        product="Spravato 28 mg nasal device" if fixed else "Ketamine 10 mg/mL (diluted)",
        lot_number="ESK24117" if fixed else "KET24031",
        route=protocol.route,
        dose_mg=result.dose_mg,
        dose_mg_per_kg=result.effective_mg_per_kg,
        weight_basis=result.weight_basis or "",
        weight_used_kg=result.weight_used_kg,
        concentration_mg_per_ml=result.concentration_mg_per_ml,
        rate_ml_per_h=result.rate_ml_per_h,
        devices_planned=result.devices,
        calculation_warnings=list(result.warnings),
        unit="device" if fixed else "mL",
        drawn=given if ended else None,
        given=given if ended else None,
        left_over=Decimal(0) if ended else None,
        total_given_mg=result.dose_mg if ended else None,
        recorded_by=nurse.user,
        recorded_at=dose_at,
    )
    if fixed:
        for n in range(result.devices):
            at = dose_at + timedelta(minutes=5 * n)
            if at <= timezone.now():
                DeviceDose.objects.create(
                    session=session, number=n + 1, given_at=at, mg=Decimal(28), by=nurse.user
                )
    return protocol


def _readings(
    session: TreatmentSession,
    protocol: Any,
    nurse: Membership,
    dose_at: datetime,
    curve: list,
    *,
    until: datetime,
    spike: bool = False,
) -> None:
    for minute, sbp, dbp, hr in curve:
        at = dose_at + timedelta(minutes=minute)
        if at > until:
            break
        if spike and minute == 40:
            sbp, dbp = 182, 104
        phase = "pre_dose" if minute < 0 else "during"
        reading = VitalReading.objects.create(
            session=session,
            taken_at=at,
            phase=phase,
            systolic=sbp,
            diastolic=dbp,
            heart_rate=hr,
            spo2=98 if minute != 40 else 96,
            respiratory_rate=14,
            recorded_by=nurse.user,
            recorded_at=at,
        )
        for alert in vital_alerts(protocol, reading.as_monitoring(), phase=phase):
            SessionAlert.objects.create(
                session=session,
                reading=reading,
                code=alert.code,
                level=alert.level,
                message=alert.message,
                rule_id=alert.rule_id,
                raised_at=at,
                acknowledged_by=nurse.user if until < timezone.now() - timedelta(hours=3) else None,
                acknowledged_at=at + timedelta(minutes=2)
                if until < timezone.now() - timedelta(hours=3)
                else None,
            )
    for minute, moaas, cadss in ((0, 5, 0), (40, 4, 8), (curve[-1][0], 5, 0)):
        at = dose_at + timedelta(minutes=minute)
        if at > until:
            continue
        Observation.objects.create(
            session=session, kind="moaas", value=moaas, taken_at=at, recorded_by=nurse.user
        )
        Observation.objects.create(
            session=session, kind="cadss6", value=cadss, taken_at=at, recorded_by=nurse.user
        )


def _events(
    session: TreatmentSession, nurse: Membership, steps: list[tuple[datetime, str, str, str]]
) -> None:
    SessionEvent.objects.bulk_create(
        SessionEvent(
            session=session,
            at=at,
            kind="transition",
            from_state=a,
            to_state=b,
            text=text,
            by=nurse.user,
        )
        for at, a, b, text in steps
    )


def _completed_session(
    appointment: Any, nurse: Membership, physician: Membership, *, spike: bool
) -> None:
    started = appointment.start
    dose_at = started + timedelta(minutes=15)
    esk = appointment.course.protocol_code.startswith("esketamine")
    curve = ESK_CURVE if esk else IV_CURVE
    ended = dose_at + (timedelta(minutes=5) if esk else timedelta(minutes=40))
    discharged = dose_at + timedelta(minutes=curve[-1][0] + 5)
    session = _session(
        appointment,
        nurse,
        started,
        state="discharged",
        dose_started_at=dose_at,
        dose_ended_at=ended,
        dissociation_resolved=True,
        walks_steadily=True,
        escort_present=True,
        respiratory_depression=False,
        could_have_left_at=dose_at + timedelta(minutes=90 if esk else curve[-1][0]),
        discharged_at=discharged,
        nurse_signed_by=nurse.user,
        nurse_signed_at=discharged + timedelta(minutes=10),
        physician_signed_by=physician.user,
        physician_signed_at=discharged + timedelta(hours=2),
    )
    protocol = _administer(session, nurse, dose_at, ended=True)
    _readings(session, protocol, nurse, dose_at, curve, until=discharged, spike=spike)
    _events(
        session,
        nurse,
        [
            (started, "", "pre_dose", "Session started"),
            (dose_at, "pre_dose", "dosing", "Dosing started"),
            (ended, "dosing", "monitoring", "Dosing ended"),
            (
                discharged - timedelta(minutes=2),
                "monitoring",
                "ready_for_discharge",
                "Discharge criteria met",
            ),
            (discharged, "ready_for_discharge", "discharged", "Discharged"),
        ],
    )
    if esk:
        from ketaclinic.treatment.rems import FORM_VERSION, form_data

        day = timezone.localdate(discharged)
        old = day < timezone.localdate() - timedelta(days=1)
        RemsForm.objects.create(
            clinic_id=session.clinic_id,
            session=session,
            form_version=FORM_VERSION,
            data=form_data(session),
            due_on=day + timedelta(days=7),
            submitted_on=day + timedelta(days=1) if old else None,
            submitted_by=nurse.user if old else None,
        )


def _today(clinic: Any, nurse: Membership, now: datetime) -> None:
    """One IV infusion running and one esketamine patient under observation."""
    today = timezone.localdate(now)
    candidates = list(
        Appointment.objects.filter(
            clinic=clinic,
            kind="treatment",
            course__status="active",
            treatment_session__isnull=True,
            start__date__gte=today - timedelta(days=0),
        )
        .filter(Q(status="booked") | Q(status="completed"))
        # A patient with an open suicidality alert would not be dosed today.
        .exclude(patient__measure_alerts__status="open")
        .select_related("course", "patient", "room")
        .order_by("start")
    )
    # Today's appointments first, then later ones (a kind may have none today).
    ordered = sorted(candidates, key=lambda a: (timezone.localdate(a.start) != today, a.start))
    picked: dict[str, Any] = {}
    used_rooms: set[int] = set()
    for appointment in ordered:
        kind = (
            "esk"
            if appointment.course.protocol_code.startswith("esketamine")
            else ("iv" if appointment.course.protocol_code.startswith("ketamine-iv") else None)
        )
        if kind and kind not in picked and appointment.room_id not in used_rooms:
            picked[kind] = appointment
            used_rooms.add(appointment.room_id)
    if "iv" in picked:
        appointment = picked["iv"]
        Appointment.objects.filter(pk=appointment.pk).update(status="in_progress")
        dose_at = now - timedelta(minutes=25)
        session = _session(
            appointment,
            nurse,
            dose_at - timedelta(minutes=15),
            state="dosing",
            dose_started_at=dose_at,
        )
        protocol = _administer(session, nurse, dose_at, ended=False)
        _readings(session, protocol, nurse, dose_at, IV_CURVE, until=now)
        _events(
            session,
            nurse,
            [
                (dose_at - timedelta(minutes=15), "", "pre_dose", "Session started"),
                (dose_at, "pre_dose", "dosing", "Dosing started"),
            ],
        )
    if "esk" in picked:
        appointment = picked["esk"]
        Appointment.objects.filter(pk=appointment.pk).update(status="in_progress")
        dose_at = now - timedelta(minutes=50)
        session = _session(
            appointment,
            nurse,
            dose_at - timedelta(minutes=15),
            state="monitoring",
            dose_started_at=dose_at,
            dose_ended_at=dose_at + timedelta(minutes=5),
        )
        protocol = _administer(session, nurse, dose_at, ended=True)
        _readings(session, protocol, nurse, dose_at, ESK_CURVE, until=now)
        _events(
            session,
            nurse,
            [
                (dose_at - timedelta(minutes=15), "", "pre_dose", "Session started"),
                (dose_at, "pre_dose", "dosing", "Dosing started"),
                (dose_at + timedelta(minutes=5), "dosing", "monitoring", "Dosing ended"),
            ],
        )
