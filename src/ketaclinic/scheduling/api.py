"""Dosing, protocols, courses, rooms, appointments and series planning under /api/v1/."""

from datetime import date

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest
from ninja import Query, Router, Schema, Status

from ketaclinic.accounts.access import Actor, ClinicRequest
from ketaclinic.api_auth import allow
from ketaclinic.api_safety import RecordId
from ketaclinic.clinical.dosing import DoseError, calculate_dose
from ketaclinic.clinical.scheduling import Preferences
from ketaclinic.patients.access import get_patient_for
from ketaclinic.scheduling import services
from ketaclinic.scheduling.access import (
    get_appointment_for,
    get_course_for,
    get_room_for,
    get_staff_for,
)
from ketaclinic.scheduling.models import (
    Appointment,
    OpeningHours,
    Room,
    StaffHours,
    TreatmentCourse,
)
from ketaclinic.scheduling.schemas import (
    AppointmentIn,
    AppointmentOut,
    AppointmentPatch,
    BookIn,
    CheckOut,
    ConflictOut,
    CourseEndIn,
    CourseIn,
    CourseOut,
    DoseIn,
    DoseOrderIn,
    DoseOrderOut,
    DoseOut,
    ExceptionIn,
    ExceptionOut,
    MissingOut,
    PlanIn,
    PlanOut,
    ProtocolOut,
    RoomIn,
    RoomOut,
    SettingsIn,
    SettingsOut,
    WeeklyIn,
    WeeklyOut,
)

router = Router(tags=["scheduling"])


def _num(value):
    return None if value is None else float(value)


@router.post("/dosing/calculate", response=DoseOut, auth=allow("dose.calculate"))
def calculate(request: ClinicRequest, payload: DoseIn) -> dict:
    protocol = services.get_protocol(payload.protocol)
    try:
        result = calculate_dose(
            protocol,
            weight_kg=payload.weight_kg,
            height_cm=payload.height_cm,
            sex_at_birth=payload.sex_at_birth,
            dose_mg_per_kg=payload.dose_mg_per_kg,
            dose_mg=payload.dose_mg,
            weight_basis=payload.weight_basis,
            concentration_mg_per_ml=payload.concentration_mg_per_ml,
            weight_measured_on=payload.weight_measured_on,
            today=request.auth.clinic.today(),
            first_session=payload.first_session,
        )
    except DoseError as exc:
        raise services.dose_error(exc) from None
    return {
        "protocol": result.protocol_code,
        "protocol_version": result.protocol_version,
        "dose_mg": float(result.dose_mg),
        "weight_basis": result.weight_basis,
        "weight_used_kg": _num(result.weight_used_kg),
        "ideal_weight_kg": _num(result.ideal_weight_kg),
        "effective_mg_per_kg": _num(result.effective_mg_per_kg),
        "concentration_mg_per_ml": _num(result.concentration_mg_per_ml),
        "infusion_minutes": result.infusion_minutes,
        "volume_ml": _num(result.volume_ml),
        "rate_ml_per_h": _num(result.rate_ml_per_h),
        "devices": result.devices,
        "warnings": list(result.warnings),
    }


def protocol_summary(protocol) -> dict:
    dose = protocol.dose
    weighted = dose.kind == "mg_per_kg"
    return {
        "code": protocol.code,
        "version": protocol.version,
        "title": protocol.title,
        "family": protocol.family,
        "drug": protocol.drug,
        "route": protocol.route,
        "off_label": protocol.off_label,
        "dose_kind": dose.kind,
        "default_mg_per_kg": float(dose.default_mg_per_kg.value) if weighted else None,
        "hard_max_mg_per_kg": float(dose.hard_max_mg_per_kg.value) if weighted else None,
        "allowed_doses_mg": None if weighted else [float(v) for v in dose.allowed_doses_mg.values],
        "weight_bases": list(dose.weight_bases) if weighted else None,
        "infusion_minutes": protocol.infusion_minutes.value if protocol.infusion_minutes else None,
        "chair_minutes": protocol.total_chair_minutes,
        "phases": [
            {
                "code": p.code,
                "kind": p.kind,
                "label": p.label,
                "sessions": int(p.sessions.max)
                if p.sessions and p.sessions.max is not None
                else None,
                "min_hours_between_sessions": _num(
                    p.min_hours_between_sessions.value if p.min_hours_between_sessions else None
                ),
                "max_span_days": p.max_span_days.value if p.max_span_days else None,
            }
            for p in protocol.phases
        ],
        "patient_instructions": [i.text for i in protocol.patient_instructions],
    }


@router.get("/protocols", response=list[ProtocolOut], auth=allow("schedule.view"))
def list_protocols(request: HttpRequest) -> list:
    return [protocol_summary(p) for _, p in sorted(services.protocols().items())]


# --- courses -----------------------------------------------------------------------


def _course_out(course: TreatmentCourse, actor: Actor) -> TreatmentCourse:
    """The course as the actor may see it: the dose order and why it stopped need dose.view."""
    if actor.may("dose.view"):
        course.current_dose = services.current_order(course)  # type: ignore[attr-defined]
    else:
        course.current_dose = None  # type: ignore[attr-defined]
        course.stop_reason = None  # type: ignore[assignment]
    return course


@router.post(
    "/patients/{patient_id}/courses", response={201: CourseOut}, auth=allow("medical.sign")
)
def create_course(request: ClinicRequest, patient_id: int, payload: CourseIn) -> Status:
    actor = request.auth
    patient = get_patient_for(actor, patient_id, "medical.sign")
    course = services.create_course(
        actor=actor,
        patient=patient,
        protocol_code=payload.protocol,
        start_date=payload.start_date,
        dose_mg_per_kg=payload.dose_mg_per_kg,
        dose_mg=payload.dose_mg,
        weight_basis=payload.weight_basis,
    )
    return Status(201, _course_out(course, actor))


@router.get("/patients/{patient_id}/courses", response=list[CourseOut], auth=allow("schedule.view"))
def list_courses(request: ClinicRequest, patient_id: int) -> list:
    actor = request.auth
    patient = get_patient_for(actor, patient_id, "schedule.view", read="courses")
    courses = (
        TreatmentCourse.objects.for_clinic(actor.clinic)
        .filter(patient=patient)
        .order_by("-start_date")
    )
    return [_course_out(c, actor) for c in courses]


@router.get("/courses/{course_id}", response=CourseOut, auth=allow("schedule.view"))
def read_course(request: ClinicRequest, course_id: int) -> TreatmentCourse:
    actor = request.auth
    course = get_course_for(actor, course_id, read=True)
    return _course_out(course, actor)


@router.post(
    "/courses/{course_id}/activate",
    response={200: CourseOut, 409: MissingOut},
    auth=allow("medical.sign"),
)
def activate_course(request: ClinicRequest, course_id: int) -> Status:
    actor = request.auth
    course = get_course_for(actor, course_id, "medical.sign")
    try:
        course = services.activate_course(actor=actor, course=course)
    except services.CourseBlocked as exc:
        return Status(
            409,
            {
                "detail": "The course cannot be activated until these are in place.",
                "missing": exc.missing,
            },
        )
    return Status(200, _course_out(course, actor))


@router.post("/courses/{course_id}/end", response=CourseOut, auth=allow("medical.sign"))
def end_course(request: ClinicRequest, course_id: int, payload: CourseEndIn) -> TreatmentCourse:
    actor = request.auth
    course = get_course_for(actor, course_id, "medical.sign")
    return _course_out(
        services.end_course(
            actor=actor, course=course, status=payload.status, reason=payload.reason
        ),
        actor,
    )


@router.post(
    "/courses/{course_id}/dose-orders", response={201: DoseOrderOut}, auth=allow("medical.sign")
)
def change_dose(request: ClinicRequest, course_id: int, payload: DoseOrderIn) -> Status:
    actor = request.auth
    course = get_course_for(actor, course_id, "medical.sign")
    order = services.change_dose(
        actor=actor,
        course=course,
        reason=payload.reason,
        dose_mg_per_kg=payload.dose_mg_per_kg,
        dose_mg=payload.dose_mg,
        weight_basis=payload.weight_basis,
    )
    return Status(201, order)


@router.get(
    "/courses/{course_id}/dose-orders", response=list[DoseOrderOut], auth=allow("dose.view")
)
def list_dose_orders(request: ClinicRequest, course_id: int) -> list:
    actor = request.auth
    course = get_course_for(actor, course_id, "dose.view", read="dose_orders")
    return list(course.orders.order_by("-signed_at", "-pk"))


# --- rooms -----------------------------------------------------------------------


@router.get("/rooms", response=list[RoomOut], auth=allow("schedule.view"))
def list_rooms(request: ClinicRequest) -> list:
    return list(Room.objects.for_clinic(request.auth.clinic))


@router.post("/rooms", response={201: RoomOut}, auth=allow("floor.manage"))
def create_room(request: ClinicRequest, payload: RoomIn) -> Status:
    return Status(
        201, services.create_room(actor=request.auth, name=payload.name, kind=payload.kind)
    )


@router.get("/opening-hours", response=WeeklyOut, auth=allow("schedule.view"))
def get_opening_hours(request: ClinicRequest) -> dict:
    rows = OpeningHours.objects.filter(clinic=request.auth.clinic)
    return {"hours": [{"weekday": r.weekday, "starts": r.opens, "ends": r.closes} for r in rows]}


@router.put("/opening-hours", response=WeeklyOut, auth=allow("floor.manage"))
def put_opening_hours(request: ClinicRequest, payload: WeeklyIn) -> dict:
    hours = [(h.weekday, h.starts, h.ends) for h in payload.hours]
    services.set_opening_hours(actor=request.auth, hours=hours)
    return get_opening_hours(request)


@router.get("/staff/{membership_id}/hours", response=WeeklyOut, auth=allow("schedule.view"))
def get_staff_hours(request: ClinicRequest, membership_id: int) -> dict:
    member = get_staff_for(request.auth, membership_id)
    rows = StaffHours.objects.filter(membership=member)
    return {"hours": [{"weekday": r.weekday, "starts": r.starts, "ends": r.ends} for r in rows]}


@router.put("/staff/{membership_id}/hours", response=WeeklyOut, auth=allow("floor.manage"))
def put_staff_hours(request: ClinicRequest, membership_id: int, payload: WeeklyIn) -> dict:
    member = get_staff_for(request.auth, membership_id)
    hours = [(h.weekday, h.starts, h.ends) for h in payload.hours]
    services.set_staff_hours(actor=request.auth, membership=member, hours=hours)
    return get_staff_hours(request, membership_id)


@router.post(
    "/staff/{membership_id}/hour-exceptions",
    response={201: ExceptionOut},
    auth=allow("floor.manage"),
)
def add_staff_exception(request: ClinicRequest, membership_id: int, payload: ExceptionIn) -> Status:
    member = get_staff_for(request.auth, membership_id)
    found = services.add_staff_exception(
        actor=request.auth,
        membership=member,
        day=payload.day,
        starts=payload.starts,
        ends=payload.ends,
        note=payload.note,
    )
    return Status(201, found)


@router.get("/scheduling-settings", response=SettingsOut, auth=allow("schedule.view"))
def get_settings(request: ClinicRequest):
    return services.settings_for(request.auth.clinic)


@router.patch("/scheduling-settings", response=SettingsOut, auth=allow("floor.manage"))
def patch_settings(request: ClinicRequest, payload: SettingsIn):
    return services.update_settings(
        actor=request.auth,
        nurse_capacity=payload.nurse_capacity,
        reminder_hours_before=payload.reminder_hours_before,
    )


# --- appointments -------------------------------------------------------------------


class DayParams(Schema):
    day: date | None = None
    staff: RecordId | None = None


@router.get("/appointments", response=list[AppointmentOut], auth=allow("schedule.view"))
def list_appointments(request: ClinicRequest, filters: Query[DayParams]) -> list:
    """Appointments of one local day (default today), optionally one staff member's."""
    actor = request.auth
    start, end = services.day_window(actor.clinic, filters.day or actor.clinic.today())
    found = (
        Appointment.objects.for_clinic(actor.clinic).overlapping(start, end).order_by("start", "pk")
    )
    if filters.staff is not None:
        found = found.filter(staff_id=filters.staff)
    shown = list(found)
    services.record(
        actor,
        "view",
        object_type="scheduling.appointment",
        detail={"view": "day", "shown": [a.pk for a in shown]},
    )
    return shown


def _slot(actor, payload: AppointmentIn) -> services.Slot:
    patient = get_patient_for(actor, payload.patient, "schedule.book")
    return services.make_slot(
        patient=patient,
        kind=payload.kind,
        room=_room(actor, payload.room),
        start=payload.start,
        course=_course(actor, payload.course) if payload.course is not None else None,
        staff=_staff(actor, payload.staff) if payload.staff is not None else None,
        end=payload.end,
    )


@router.post("/appointments/check", response=CheckOut, auth=allow("schedule.book"))
def check(request: ClinicRequest, payload: AppointmentIn) -> dict:
    """What booking this appointment now would meet (nothing is written): [] = free."""
    conflicts = services.check_slot(_slot(request.auth, payload))
    return {"conflicts": [{"code": c.code, "message": c.message} for c in conflicts]}


@router.post(
    "/appointments", response={201: AppointmentOut, 409: ConflictOut}, auth=allow("schedule.book")
)
def book(request: ClinicRequest, payload: AppointmentIn) -> Status:
    actor = request.auth
    slot = _slot(actor, payload)
    try:
        appointment = services.book_appointment(actor=actor, slot=slot)
    except services.BookingConflict as exc:
        return Status(409, {"detail": "The booking was refused.", "conflicts": exc.conflicts})
    return Status(201, appointment)


def _room(actor, room_id: int) -> Room:
    try:
        return get_room_for(actor, room_id)
    except Http404:
        raise ValidationError({"room": "No such room in this clinic."}) from None


def _course(actor, course_id: int) -> TreatmentCourse:
    try:
        return get_course_for(actor, course_id)
    except Http404:
        raise ValidationError({"course": "No such course in this clinic."}) from None


def _staff(actor, membership_id: int):
    try:
        return get_staff_for(actor, membership_id)
    except Http404:
        raise ValidationError({"staff": "No such staff member in this clinic."}) from None


@router.patch(
    "/appointments/{appointment_id}",
    response={200: AppointmentOut, 409: ConflictOut},
    auth=allow("schedule.book"),
)
def update(request: ClinicRequest, appointment_id: int, payload: AppointmentPatch) -> Status:
    actor = request.auth
    appointment = get_appointment_for(actor, appointment_id, "schedule.book")
    try:
        appointment = services.update_appointment(
            actor=actor,
            appointment=appointment,
            start=payload.start,
            end=payload.end,
            room=_room(actor, payload.room) if payload.room is not None else None,
            staff=_staff(actor, payload.staff) if payload.staff is not None else None,
            # "staff": null clears it (a treatment then gets any free nurse).
            reassign_staff="staff" in payload.model_fields_set and payload.staff is None,
            status=payload.status,
            reason=payload.reason,
        )
    except services.BookingConflict as exc:
        return Status(409, {"detail": "The move was refused.", "conflicts": exc.conflicts})
    return Status(200, appointment)


# --- series ---------------------------------------------------------------------------


def plan_out(proposal: services.Proposal) -> dict:
    return {
        "course": proposal.course.pk,
        "kept": proposal.kept,
        "unplaced": proposal.unplaced,
        "window_start": proposal.window_start,
        "window_end": proposal.window_end,
        "notes": list(proposal.notes),
        "sessions": [
            {
                "index": s.index,
                "start": s.start,
                "end": s.end,
                "room": s.room.pk,
                "room_name": s.room.name,
                "in_window": s.in_window,
                "appointment": s.appointment,
                "moved_from": s.moved_from,
                "staff": s.staff.pk if s.staff else None,
                "staff_name": s.staff.user.get_full_name() or s.staff.user.username
                if s.staff
                else None,
            }
            for s in proposal.sessions
        ],
    }


@router.post(
    "/courses/{course_id}/plan",
    response={200: PlanOut, 409: ConflictOut},
    auth=allow("schedule.book"),
)
def plan(request: ClinicRequest, course_id: int, payload: PlanIn) -> Status:
    actor = request.auth
    course = get_course_for(actor, course_id, "schedule.book")
    if payload.earliest >= payload.latest_start:
        raise ValidationError({"latest_start": "The latest start must be after the earliest."})
    prefs = Preferences(
        weekdays=frozenset(payload.weekdays),
        earliest=payload.earliest,
        latest_start=payload.latest_start,
    )
    move = None
    if payload.move is not None:
        moved = (
            Appointment.objects.for_clinic(actor.clinic)
            .filter(pk=payload.move.appointment, course=course)
            .select_related("room")
            .first()
        )
        if moved is None:
            raise ValidationError({"move": "No such session in this course."})
        move = (moved, payload.move.start)
    try:
        proposal = services.plan_course(actor=actor, course=course, prefs=prefs, move=move)
    except services.BookingConflict as exc:
        return Status(
            409, {"detail": "The moved session cannot go there.", "conflicts": exc.conflicts}
        )
    return Status(200, plan_out(proposal))


@router.post(
    "/courses/{course_id}/book",
    response={201: list[AppointmentOut], 409: ConflictOut},
    auth=allow("schedule.book"),
)
def book_series(request: ClinicRequest, course_id: int, payload: BookIn) -> Status:
    actor = request.auth
    course = get_course_for(actor, course_id, "schedule.book")
    ids = [s.appointment for s in payload.sessions if s.appointment is not None]
    existing = {
        a.pk: a
        for a in Appointment.objects.for_clinic(actor.clinic).filter(pk__in=ids, course=course)
    }
    if len(existing) != len(set(ids)):
        raise ValidationError({"sessions": "An appointment is not a session of this course."})
    requests = [
        services.SessionRequest(
            start=s.start,
            room=_room(actor, s.room),
            appointment=existing[s.appointment] if s.appointment is not None else None,
            staff=_staff(actor, s.staff) if s.staff is not None else None,
        )
        for s in payload.sessions
    ]
    try:
        booked = services.book_course(actor=actor, course=course, sessions=requests)
    except services.BookingConflict as exc:
        return Status(409, {"detail": "The series was not booked.", "conflicts": exc.conflicts})
    return Status(201, booked)
