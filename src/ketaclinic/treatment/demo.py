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

from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Membership
from ketaclinic.clinical.dosing import DoseError, calculate_dose
from ketaclinic.clinical.monitoring import Phase, vital_alerts
from ketaclinic.inventory import demo as inventory_demo
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
from ketaclinic.treatment.services import post_to_ledger

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
DOSE_AFTER_START = timedelta(minutes=15)  # the pre-dose checklist and baseline vitals
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
    created = []
    for appointment in past:
        course = appointment.course
        assert course is not None  # the query asks for an active course
        spike = not hypertension_done and course.protocol_code.startswith("ketamine-iv")
        created.append(_completed_session(appointment, nurse, physician, spike=spike))
        hypertension_done = hypertension_done or spike
    if not TreatmentSession.objects.filter(clinic=clinic, state__in=ACTIVE_STATES).exists():
        created += _today(clinic, nurse, now)
    _post_to_ledger(clinic, nurse, created)


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
            weight_measured_on=patient.weight_measured_on,
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


def _drawn_mg_by_lot(clinic: Any) -> dict[int, Decimal]:
    """The milligrams the demo's doses so far have drawn from each lot, given and wasted."""
    drawn: dict[int, Decimal] = {}
    for lot, given_mg, left, per_ml in Administration.objects.filter(
        session__clinic=clinic, ledger_lot__isnull=False
    ).values_list("ledger_lot", "dose_mg", "left_over", "concentration_mg_per_ml"):
        drawn[lot] = drawn.get(lot, Decimal(0)) + given_mg + (left or 0) * (per_ml or 0)
    return drawn


def _administer(
    session: TreatmentSession, nurse: Membership, dose_at: datetime, *, ended: bool
) -> Any:
    protocol = course_protocol(session.course)
    result = _dose(
        protocol, session.patient, current_order(session.course), session.clinic.date_of(dose_at)
    )
    fixed = result.devices is not None
    given = Decimal(result.devices) if fixed else result.volume_ml
    # IV: a little more is drawn up than given; the remainder is wasted before a witness.
    left = Decimal(0) if fixed else Decimal("1.0")
    lot = inventory_demo.stock_lot(
        session.clinic,
        drug=protocol.drug,
        mg_per_ml=result.concentration_mg_per_ml,
        needed_mg=result.dose_mg + left * (result.concentration_mg_per_ml or 0),
        drawn_mg=_drawn_mg_by_lot(session.clinic),
    )
    Administration.objects.create(
        session=session,
        drug=protocol.drug,
        product="Spravato 28 mg nasal device" if fixed else "Ketamine 10 mg/mL (diluted)",
        lot_number=lot.number if lot else ("ESK24117" if fixed else "KET24031"),
        ledger_lot=lot,
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
        drawn=given + left if ended else None,
        given=given if ended else None,
        left_over=left if ended else None,
        total_given_mg=result.dose_mg if ended else None,
        waste_manner="Into the drug-disposal container" if ended and left else "",
        recorded_by=nurse.user,
        recorded_at=dose_at,
    )
    dose = protocol.dose
    if dose.kind == "fixed_mg" and result.devices is not None:
        for n in range(result.devices):
            at = dose_at + timedelta(minutes=5 * n)
            if at <= timezone.now():
                DeviceDose.objects.create(
                    session=session,
                    number=n + 1,
                    given_at=at,
                    mg=dose.mg_per_device.value,
                    by=nurse.user,
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
        phase: Phase = "pre_dose" if minute < 0 else "during"
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
) -> TreatmentSession:
    started = appointment.start
    dose_at = started + DOSE_AFTER_START
    esk = appointment.course.protocol_code.startswith("esketamine")
    curve = ESK_CURVE if esk else IV_CURVE
    protocol = course_protocol(appointment.course)
    infusion = protocol.infusion_minutes.value if protocol.infusion_minutes else 40
    ended = dose_at + timedelta(minutes=5 if esk else int(infusion))
    if not esk and infusion > 40:
        # A long (pain) infusion: vitals every 15 minutes until 30 minutes after it ends.
        last = curve[-1][0]
        curve = curve + [(m, 128, 80, 72) for m in range(last + 15, int(infusion) + 31, 15)]
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

        day = session.clinic.date_of(discharged)
        old = day < session.clinic.today() - timedelta(days=1)
        RemsForm.objects.create(
            clinic_id=session.clinic_id,
            session=session,
            form_version=FORM_VERSION,
            data=form_data(session),
            due_on=day + timedelta(days=7),
            submitted_on=day + timedelta(days=1) if old else None,
            submitted_by=nurse.user if old else None,
        )
    return session


def _today(clinic: Any, nurse: Membership, now: datetime) -> list[TreatmentSession]:
    """One IV infusion running and one esketamine patient under observation.

    The scheduling demo books both first sessions so that they are under way now.
    """
    now = now.replace(second=0, microsecond=0)
    under_way = (
        Appointment.objects.filter(
            clinic=clinic,
            kind="treatment",
            status="booked",
            course__status="active",
            treatment_session__isnull=True,
            # Dosed 15 minutes after the start, and a dose is never in the future: a series
            # session that began minutes ago (on the hour) has its patient still arriving.
            start__lte=now - DOSE_AFTER_START,
            end__gt=now,
        )
        # A patient with an open suicidality alert would not be dosed today.
        .exclude(patient__measure_alerts__status="open")
        .select_related("course", "patient", "room")
        .order_by("-start")  # the sessions begun last: the two the scheduling demo started
    )
    picked: dict[str, Any] = {}
    for appointment in under_way:
        assert appointment.course is not None  # the query asks for an active course
        code = appointment.course.protocol_code
        kind = "esk" if code.startswith("esketamine") else ("iv" if "-iv-" in code else None)
        if kind is not None and kind not in picked:
            Appointment.objects.filter(pk=appointment.pk).update(status="in_progress")
            picked[kind] = appointment
    sessions = []
    if "iv" in picked:
        appointment = picked["iv"]
        dose_at = appointment.start + DOSE_AFTER_START
        session = _session(
            appointment,
            nurse,
            dose_at - DOSE_AFTER_START,
            state="dosing",
            dose_started_at=dose_at,
        )
        protocol = _administer(session, nurse, dose_at, ended=False)
        _readings(session, protocol, nurse, dose_at, IV_CURVE, until=now)
        _events(
            session,
            nurse,
            [
                (dose_at - DOSE_AFTER_START, "", "pre_dose", "Session started"),
                (dose_at, "pre_dose", "dosing", "Dosing started"),
            ],
        )
        sessions.append(session)
    if "esk" in picked:
        appointment = picked["esk"]
        dose_at = appointment.start + DOSE_AFTER_START
        session = _session(
            appointment,
            nurse,
            dose_at - DOSE_AFTER_START,
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
                (dose_at - DOSE_AFTER_START, "", "pre_dose", "Session started"),
                (dose_at, "pre_dose", "dosing", "Dosing started"),
                (dose_at + timedelta(minutes=5), "dosing", "monitoring", "Dosing ended"),
            ],
        )
        sessions.append(session)
    return sessions


def _dose_started(session: TreatmentSession) -> datetime:
    assert session.dose_started_at is not None  # only sessions with a dose given are posted
    return session.dose_started_at


def _post_to_ledger(clinic: Any, nurse: Membership, sessions: list[TreatmentSession]) -> None:
    """Post the new sessions' doses and wasted remainders to the ledger, oldest first.

    As at the chair (services.post_to_ledger); yesterday closes with a count, every
    waste is witnessed except the latest, which still waits for its witness.
    """
    from ketaclinic.inventory.models import LedgerEntry

    given = sorted(
        (s for s in sessions if s.administration.ledger_lot_id and s.administration.given),
        key=_dose_started,
    )
    if not given:
        return
    actor = Actor(user=nurse.user, membership=nurse)
    today = clinic.today()
    closed = False
    for session in given:
        if not closed and timezone.localdate(session.dose_started_at, clinic.tz) >= today:
            inventory_demo.close_day(clinic, today - timedelta(days=1))
            closed = True
        post_to_ledger(
            actor=actor,
            administration=session.administration,
            given_at=session.dose_started_at,
            wasted_at=session.dose_ended_at,
        )
    if not closed:
        inventory_demo.close_day(clinic, today - timedelta(days=1))
    waste = list(
        LedgerEntry.objects.filter(clinic=clinic, kind="waste", witness__isnull=True).order_by(
            "occurred_at"
        )
    )
    inventory_demo.witness_waste(clinic, waste[:-1])
