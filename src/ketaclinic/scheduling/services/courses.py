"""Treatment courses: their protocol (frozen when the course starts), the prescription, activation and end."""

from __future__ import annotations

import functools
from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.audit.services import record
from ketaclinic.clinical.conditions import CONDITIONS
from ketaclinic.clinical.dosing import DoseError, calculate_dose
from ketaclinic.clinical.protocols import Protocol, load_protocol_text, load_protocols
from ketaclinic.clinical.scheduling import series_rule
from ketaclinic.datadirs import clinic_data_dirs
from ketaclinic.patients.changes import patient_changed
from ketaclinic.patients.models import Condition, Patient
from ketaclinic.scheduling import hooks
from ketaclinic.scheduling.models import (
    Appointment,
    AppointmentStatus,
    CourseStatus,
    DoseOrder,
    ProtocolSnapshot,
    TreatmentCourse,
)
from ketaclinic.screening import gates

from .floor import _audit_appointment, _lock_floor


class CourseBlocked(Exception):
    """The course cannot be activated: ``missing`` lists what is missing."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__("The course cannot be activated yet.")
        self.missing = missing


def protocols() -> dict[str, Protocol]:
    return load_protocols(clinic_data_dirs("protocols"))


def get_protocol(code: str, field: str = "protocol") -> Protocol:
    """The loaded protocol with this code, or a ValidationError naming ``field``."""
    found = protocols().get(code)
    if found is None:
        raise ValidationError({field: f"Unknown protocol {code!r}."})
    return found


def course_protocol(course: TreatmentCourse) -> Protocol:
    """The protocol the course runs under: the file it was started with, not today's file."""
    if course.protocol_hash:
        return frozen_protocol(course.protocol_hash)
    return get_protocol(course.protocol_code)


@functools.lru_cache(maxsize=64)
def frozen_protocol(sha256: str) -> Protocol:
    """The protocol stored under this hash (snapshots never change, so caching is safe)."""
    snapshot = ProtocolSnapshot.objects.get(sha256=sha256)
    return load_protocol_text(snapshot.text, origin=f"snapshot {snapshot}")


def freeze_protocol(protocol: Protocol) -> str:
    """Store the protocol's file text once (keyed by its hash) and return the hash."""
    if not protocol.file_hash:
        raise ValueError(f"protocol {protocol.code} was not loaded from a file")
    ProtocolSnapshot.objects.get_or_create(
        sha256=protocol.file_hash,
        defaults={"code": protocol.code, "version": protocol.version, "text": protocol.file_text},
    )
    return protocol.file_hash


def check_indication(protocol: Protocol, patient: Patient) -> None:
    """Refuse a protocol limited to an indication the patient's active diagnoses do not show."""
    if not protocol.requires_diagnoses:
        return
    active = set(
        Condition.objects.filter(
            clinic_id=patient.clinic_id, patient=patient, is_active=True
        ).values_list("code", flat=True)
    )
    missing = [code for code in protocol.requires_diagnoses if code not in active]
    if missing:
        names = ", ".join(
            CONDITIONS[code].display if code in CONDITIONS else code for code in missing
        )
        raise ValidationError(
            {
                "protocol": f"{protocol.title} needs these diagnoses on the patient's record: "
                f"{names}."
            }
        )


def dose_error(exc: DoseError) -> ValidationError:
    return ValidationError({exc.field: exc.message})


def _check_prescription(
    protocol: Protocol,
    *,
    patient: Patient,
    dose_mg_per_kg: Decimal | None,
    dose_mg: Decimal | None,
    weight_basis: str | None,
    first: bool,
) -> None:
    """Refuse a prescription the dose calculator would refuse for this patient."""
    if (dose_mg_per_kg is None) == (dose_mg is None):
        if protocol.dose.kind == "fixed_mg" and dose_mg_per_kg is None:
            return  # no dose: the protocol's starting dose
        raise ValidationError({"dose_mg_per_kg": "Give dose_mg_per_kg or dose_mg (one of them)."})
    rule = protocol.dose
    try:
        if rule.kind == "mg_per_kg" and patient.weight_kg is None:
            if dose_mg is not None:
                raise ValidationError(
                    {"dose_mg": "A dose in mg needs the patient's weight on record."}
                )
            assert dose_mg_per_kg is not None
            if not rule.min_mg_per_kg.value <= dose_mg_per_kg <= rule.hard_max_mg_per_kg.value:
                raise ValidationError(
                    {
                        "dose_mg_per_kg": f"{dose_mg_per_kg} mg/kg is outside the protocol's "
                        f"{rule.min_mg_per_kg.value}–{rule.hard_max_mg_per_kg.value} mg/kg."
                    }
                )
            return
        calculate_dose(
            protocol,
            weight_kg=patient.weight_kg,
            height_cm=patient.height_cm,
            sex_at_birth=patient.sex_at_birth,
            dose_mg_per_kg=dose_mg_per_kg,
            dose_mg=dose_mg,
            weight_basis=weight_basis,
            weight_measured_on=patient.weight_measured_on,
            today=patient.clinic.today(),
            first_session=first and rule.kind == "fixed_mg",
        )
    except DoseError as exc:
        raise dose_error(exc) from None


def current_order(course: TreatmentCourse) -> DoseOrder | None:
    return course.orders.order_by("-signed_at", "-pk").first()


@transaction.atomic
def create_course(
    *,
    actor: Actor,
    patient: Patient,
    protocol_code: str,
    start_date: date,
    dose_mg_per_kg: Decimal | None = None,
    dose_mg: Decimal | None = None,
    weight_basis: str | None = None,
) -> TreatmentCourse:
    """Prescribe a course (status planned) with its first signed dose order."""
    actor.check("medical.sign")
    protocol = get_protocol(protocol_code)
    check_indication(protocol, patient)
    if start_date < actor.clinic.today():
        raise ValidationError({"start_date": "The start date is in the past."})
    if protocol.dose.kind == "fixed_mg":
        if weight_basis:
            raise ValidationError({"weight_basis": "A fixed-dose protocol has no weight basis."})
        if dose_mg is None and dose_mg_per_kg is None:
            dose_mg = protocol.dose.starting_dose_mg.value
    elif weight_basis is None:
        weight_basis = protocol.dose.default_weight_basis
    _check_prescription(
        protocol,
        patient=patient,
        dose_mg_per_kg=dose_mg_per_kg,
        dose_mg=dose_mg,
        weight_basis=weight_basis,
        first=True,
    )
    rule = series_rule(protocol)
    now = timezone.now()
    course = TreatmentCourse.objects.create(
        clinic=actor.clinic,
        patient=patient,
        protocol_code=protocol.code,
        protocol_version=protocol.version,
        protocol_hash=freeze_protocol(protocol),
        family=protocol.family,
        planned_sessions=rule.sessions,
        start_date=start_date,
        prescriber=actor.user,
        signed_at=now,
    )
    order = DoseOrder.objects.create(
        clinic=actor.clinic,
        course=course,
        dose_mg_per_kg=dose_mg_per_kg,
        dose_mg=dose_mg,
        weight_basis=weight_basis or "",
        reason="Initial prescription.",
        signed_by=actor.user,
        signed_at=now,
    )
    record(
        actor,
        "create",
        patient_id=patient.pk,
        obj=course,
        detail={
            "protocol": protocol.code,
            "version": protocol.version,
            "hash": protocol.file_hash,
            "order": order.pk,
        },
    )
    patient_changed(patient.pk)
    return course


@transaction.atomic
def change_dose(
    *,
    actor: Actor,
    course: TreatmentCourse,
    reason: str,
    dose_mg_per_kg: Decimal | None = None,
    dose_mg: Decimal | None = None,
    weight_basis: str | None = None,
) -> DoseOrder:
    """Sign a new dose order for the course; earlier orders stay as history."""
    actor.check("medical.sign")
    if not reason.strip():
        raise ValidationError({"reason": "Say why the dose changes."})
    if course.status in (CourseStatus.COMPLETED, CourseStatus.STOPPED):
        raise ValidationError({"course": "The course has ended."})
    protocol = course_protocol(course)
    if dose_mg_per_kg is None and dose_mg is None:
        # Only a course's first order may default to the protocol's starting dose.
        field = "dose_mg_per_kg" if protocol.dose.kind == "mg_per_kg" else "dose_mg"
        raise ValidationError({field: "Give the new dose."})
    if protocol.dose.kind == "mg_per_kg" and weight_basis is None:
        weight_basis = protocol.dose.default_weight_basis
    _check_prescription(
        protocol,
        patient=course.patient,
        dose_mg_per_kg=dose_mg_per_kg,
        dose_mg=dose_mg,
        weight_basis=weight_basis,
        first=False,
    )
    order = DoseOrder.objects.create(
        clinic=course.clinic,
        course=course,
        dose_mg_per_kg=dose_mg_per_kg,
        dose_mg=dose_mg,
        weight_basis=weight_basis or "",
        reason=reason.strip(),
        signed_by=actor.user,
    )
    record(
        actor, "dose_change", patient_id=course.patient_id, obj=order, detail={"course": course.pk}
    )
    return order


@transaction.atomic
def activate_course(*, actor: Actor, course: TreatmentCourse) -> TreatmentCourse:
    """Activate a planned or paused course, or raise CourseBlocked with what is missing."""
    actor.check("medical.sign")
    locked = TreatmentCourse.objects.select_for_update().get(pk=course.pk)
    if locked.status not in (CourseStatus.PLANNED, CourseStatus.PAUSED):
        raise ValidationError(
            {"status": f"A {locked.get_status_display().lower()} course cannot be activated."}
        )
    on = max(locked.start_date, actor.clinic.today())
    missing = gates.missing_for_course(patient=course.patient, family=locked.family, on=on)
    if missing:
        record(
            actor,
            "activate_refused",
            patient_id=course.patient_id,
            obj=locked,
            detail={"missing": len(missing)},
        )
        raise CourseBlocked(missing)
    locked.status = CourseStatus.ACTIVE
    locked.activated_at = timezone.now()
    locked.save(update_fields=["status", "activated_at"])
    record(actor, "activate", patient_id=course.patient_id, obj=locked)
    patient_changed(course.patient_id)
    return locked


@transaction.atomic
def end_course(
    *, actor: Actor, course: TreatmentCourse, status: str, reason: str = ""
) -> TreatmentCourse:
    """Pause, complete or stop a course (a stop needs a reason).

    Completing or stopping cancels the course's future booked sessions in the same
    transaction (the reason is the stop reason), so their chairs and nurses are free
    and no reminder goes out. A pause keeps them booked (the course may resume);
    reminders skip them while it is paused.
    """
    actor.check("medical.sign")
    if status not in (CourseStatus.PAUSED, CourseStatus.COMPLETED, CourseStatus.STOPPED):
        raise ValidationError({"status": "Choose paused, completed or stopped."})
    if status == CourseStatus.STOPPED and not reason.strip():
        raise ValidationError({"reason": "Say why the course stops."})
    _lock_floor(course.clinic)
    # NO KEY UPDATE: a session or booking being written for this course (a foreign key
    # to it) is not blocked by the status change, so it cannot deadlock against us.
    locked = TreatmentCourse.objects.select_for_update(no_key=True).get(pk=course.pk)
    if locked.status in (CourseStatus.COMPLETED, CourseStatus.STOPPED):
        raise ValidationError({"status": "The course has already ended."})
    locked.status = status
    locked.stop_reason = reason.strip()
    locked.save(update_fields=["status", "stop_reason"])
    cancelled: list[int] = []
    if status != CourseStatus.PAUSED:
        why = locked.stop_reason or "The course was completed."
        future = Appointment.objects.select_for_update().filter(
            course=locked, status=AppointmentStatus.BOOKED, start__gte=timezone.now()
        )
        for appointment in future:
            appointment.status = AppointmentStatus.CANCELLED
            appointment.cancel_reason = why[:300]
            appointment.save(update_fields=["status", "cancel_reason", "updated_at"])
            _audit_appointment(
                actor, "status", appointment, status=AppointmentStatus.CANCELLED, course=status
            )
            cancelled.append(appointment.pk)
        hooks.appointments_dropped(actor, list(future))
    record(actor, status, patient_id=course.patient_id, obj=locked, detail={"cancelled": cancelled})
    patient_changed(course.patient_id)
    return locked
