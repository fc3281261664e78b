"""The therapist's workspace: /integration/ pages (thin: parse, check, call a service)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Exists, OuterRef
from django.http import Http404, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from ketaclinic.accounts.access import ClinicRequest, require
from ketaclinic.accounts.form_errors import add_errors
from ketaclinic.accounts.models import Membership
from ketaclinic.audit.services import record
from ketaclinic.integration import circles, notes, planning, plans, replanning
from ketaclinic.integration.forms import (
    GOAL_ROWS,
    AddSeatForm,
    AmendForm,
    CancelForm,
    CircleForm,
    GoalForm,
    HomeworkForm,
    PlanForm,
    ProgressNoteForm,
    PsychotherapyNoteForm,
    RatingForm,
    ReleaseForm,
    SessionFormatForm,
)
from ketaclinic.integration.journal import shared_entries
from ketaclinic.integration.models import (
    Attendance,
    CircleSeat,
    CircleStatus,
    Homework,
    PlanGoal,
    ProgressNote,
    SessionDetail,
    TreatmentPlan,
)
from ketaclinic.integration.sessions import set_format
from ketaclinic.measures.models import Alert, Response
from ketaclinic.measures.registry import instruments
from ketaclinic.patients.access import get_patient_for
from ketaclinic.patients.models import Patient
from ketaclinic.patients.services import StaleVersion
from ketaclinic.scheduling.models import THERAPY_KINDS, Appointment, Room, RoomKind

LIST = 50


def _errors_to_form(form: Any, exc: ValidationError) -> None:
    add_errors(form, exc)


def _local(actor: Any, when: datetime) -> datetime:
    return when.astimezone(actor.clinic.tz)


def _caseload_ids(actor: Any) -> list[int]:
    """Patients with a therapy session with this member in the last 90 days or ahead."""
    since = timezone.now() - timedelta(days=90)
    return list(
        Appointment.objects.for_clinic(actor.clinic)
        .filter(staff=actor.membership, kind__in=THERAPY_KINDS, end__gte=since)
        .values_list("patient_id", flat=True)
        .distinct()[:500]
    )


@require("integration.view")
def workspace(request: ClinicRequest) -> HttpResponse:
    """Today and this week, notes due, overdue integration, open risk alerts (fixed cost)."""
    actor = request.actor
    now = timezone.now()
    tz = actor.clinic.tz
    today = timezone.localdate(timezone=tz)
    day_start = datetime.combine(today, datetime.min.time(), tzinfo=tz)
    week_end = day_start + timedelta(days=7)
    mine = actor.role == "therapist"
    sessions = (
        Appointment.objects.for_clinic(actor.clinic)
        .filter(kind__in=THERAPY_KINDS, start__gte=day_start, start__lt=week_end)
        .exclude(status="cancelled")
        .select_related("patient", "room", "staff__user", "integration_detail")
        .order_by("start")
    )
    week_circles = (
        circles.circles_for(actor.clinic)
        .filter(start__gte=day_start, start__lt=week_end)
        .exclude(status=CircleStatus.CANCELLED)
    )
    if mine:
        sessions = sessions.filter(staff=actor.membership)
        week_circles = week_circles.filter(therapist=actor.membership)
    sessions = list(sessions[:LIST])
    week_circles = list(week_circles[:LIST])
    tomorrow = day_start + timedelta(days=1)
    today_rows = [a for a in sessions if a.start < tomorrow]
    week_rows = [a for a in sessions if a.start >= tomorrow]
    due = notes.notes_due(actor) if actor.may("integration.note") else []
    for note in due:
        note.late = now - note.created_at > timedelta(hours=24)
    # Held sessions of the last 14 days with no progress note yet.
    unnoted = []
    if actor.may("integration.note"):
        has_note = ProgressNote.objects.filter(appointment=OuterRef("pk"))
        unnoted = list(
            Appointment.objects.for_clinic(actor.clinic)
            .filter(
                staff=actor.membership,
                kind__in=THERAPY_KINDS,
                status="completed",
                end__gte=now - timedelta(days=14),
            )
            .annotate(noted=Exists(has_note))
            .filter(noted=False)
            .select_related("patient")
            .order_by("start")[:LIST]
        )
        for a in unnoted:
            a.late = now - a.end > timedelta(hours=24)
    missed = planning.missed_for(actor.clinic, actor.membership if mine else None)
    to_book = [
        r
        for r in planning.planned_rows(
            planning.planned_for(actor.clinic).filter(
                appointment__isnull=True, closes__gte=now, opens__lte=now + timedelta(days=7)
            )[:LIST]
        )
        if r.status == "to_book"
    ]
    changes = list(
        replanning.recent_changes(actor.clinic, actor.membership if mine else None)[:LIST]
    )
    alerts = Alert.objects.for_clinic(actor.clinic).filter(status="open").select_related("patient")
    if mine:
        alerts = alerts.filter(patient_id__in=_caseload_ids(actor))
    alerts = list(alerts.order_by("-opened_at")[:LIST])
    record(
        actor,
        "view",
        detail={
            "what": "integration_workspace",
            "patients": sorted(
                {a.patient_id for a in sessions}
                | {r.item.patient_id for r in missed}
                | {c.patient_id for c in changes}
                | {a.patient_id for a in alerts}
            )[:200],
        },
    )
    return render(
        request,
        "integration/workspace.html",
        {
            "today_rows": today_rows,
            "week_rows": week_rows,
            "circles": week_circles,
            "due": due,
            "unnoted": unnoted,
            "missed": missed,
            "to_book": to_book,
            "plan_changes": changes,
            "alerts": alerts,
            "mine": mine,
            "now": now,
        },
    )


def _timeline(actor: Any, patient: Patient) -> dict[str, Any]:
    appointments = list(
        Appointment.objects.for_clinic(actor.clinic)
        .filter(patient=patient, kind__in=["treatment", *THERAPY_KINDS])
        .exclude(status="cancelled")
        .select_related("staff__user", "room", "integration_detail")
        .order_by("-start")[:40]
    )
    seats = list(
        CircleSeat.objects.for_clinic(actor.clinic)
        .filter(patient=patient)
        .select_related("circle", "circle__therapist__user")
        .order_by("-circle__start")[:20]
    )
    scores = list(
        Response.objects.for_clinic(actor.clinic)
        .filter(patient=patient, total__isnull=False)
        .order_by("-taken_at")
        .values("instrument", "total", "severity_label", "taken_at")[:20]
    )
    events: list[dict[str, Any]] = []
    for a in appointments:
        events.append(
            {"at": a.start, "kind": a.kind, "label": a.get_kind_display(), "appointment": a}
        )
    for seat in seats:
        events.append(
            {"at": seat.circle.start, "kind": "circle", "label": "Group circle", "seat": seat}
        )
    for score in scores:
        events.append(
            {"at": score["taken_at"], "kind": "score", "label": score["instrument"], "score": score}
        )
    for entry in shared_entries(actor.clinic, patient)[:20]:
        events.append(
            {
                "at": entry.shared_at,
                "kind": "journal",
                "label": "Shared journal entry",
                "entry": entry,
            }
        )
    events.sort(key=lambda e: e["at"], reverse=True)
    return {"events": events[:60]}


@require("integration.view")
def patient_timeline(request: ClinicRequest, patient_id: int) -> HttpResponse:
    actor = request.actor
    patient = get_patient_for(actor, patient_id, "integration.view")
    plan = TreatmentPlan.objects.filter(patient=patient, clinic=actor.clinic).first()
    progress_rows = list(notes.progress_notes(actor, patient)[:LIST])
    own_private = (
        list(
            notes.own_psychotherapy_notes(actor, patient).only("pk", "created_at", "patient")[:LIST]
        )
        if actor.may("psychotherapy.note")
        else []
    )
    planned = planning.planned_rows(
        planning.planned_for(actor.clinic).filter(patient=patient)[:LIST]
    )
    homework = list(Homework.objects.for_clinic(actor.clinic).filter(patient=patient)[:LIST])
    context = {
        "patient": patient,
        "plan": plan,
        "progress": plans.goal_progress(plan),
        "notes": progress_rows,
        "private_notes": own_private,
        "planned": planned,
        "homework": homework,
        "homework_form": HomeworkForm(),
        **_timeline(actor, patient),
    }
    record(actor, "view", patient_id=patient.pk, detail={"what": "integration_timeline"})
    return render(request, "integration/timeline.html", context)


def _therapy_appointments(actor: Any, patient: Patient) -> list[Appointment]:
    return list(
        Appointment.objects.for_clinic(actor.clinic)
        .filter(patient=patient, kind__in=THERAPY_KINDS)
        .exclude(status="cancelled")
        .order_by("-start")[:30]
    )


@require("integration.note")
def progress_note_new(request: ClinicRequest, patient_id: int) -> HttpResponse:
    actor = request.actor
    patient = get_patient_for(actor, patient_id, "integration.note")
    appointments = _therapy_appointments(actor, patient)
    initial = {"template": "dap", "risk": "none"}
    chosen = request.GET.get("appointment")
    if chosen and chosen.isdigit():
        initial["appointment"] = int(chosen)
    form = ProgressNoteForm(
        request.POST if request.method == "POST" else None,
        appointments=appointments,
        initial=initial,
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            fields = {
                k: data[k] for k in (*notes.TEMPLATE_FIELDS[data["template"]], *notes.COMMON_FIELDS)
            }
            fields["risk"] = data["risk"]
            try:
                note = notes.create_progress_note(
                    actor=actor,
                    patient=patient,
                    template=data["template"],
                    fields=fields,
                    text=data["text"],
                    appointment=data["appointment"],
                    sign=data["sign"],
                )
            except ValidationError as exc:
                _errors_to_form(form, exc)
            else:
                if note.alert_id:
                    messages.warning(request, "Urgent suicidality alert opened: see Alerts.")
                messages.success(
                    request,
                    "Progress note signed."
                    if note.signed_at
                    else "Progress note saved (not signed yet).",
                )
                return redirect("integration_note", note.pk)
        status = 422
    return render(
        request,
        "integration/note_form.html",
        {"patient": patient, "form": form, "template_fields": notes.TEMPLATE_FIELDS},
        status=status,
    )


@require("integration.view")
def progress_note(request: ClinicRequest, note_id: int) -> HttpResponse:
    actor = request.actor
    note = notes.get_progress_note(actor, note_id)
    mine = note.author_id == actor.user.pk and actor.may("integration.note")
    amend_form = (
        AmendForm(request.POST if request.method == "POST" else None)
        if mine and note.signed_at
        else None
    )
    status = 200
    error = ""
    if request.method == "POST":
        if not mine:
            raise PermissionDenied("Only the note's author can sign or amend it.")
        action = request.POST.get("action")
        try:
            if action == "sign":
                notes.sign_progress_note(actor=actor, note=note)
                messages.success(request, "Progress note signed.")
                return redirect("integration_note", note.pk)
            if action == "amend" and amend_form is not None:
                if amend_form.is_valid():
                    notes.amend_progress_note(actor=actor, note=note, **amend_form.cleaned_data)
                    messages.success(request, "Amendment added; the signed note is kept as it was.")
                    return redirect("integration_note", note.pk)
            else:
                raise ValidationError({"note": "Choose sign, or amend a signed note."})
        except ValidationError as exc:
            if amend_form is not None and action == "amend":
                _errors_to_form(amend_form, exc)
            else:
                error = " ".join(exc.messages)
        status = 422
    record(actor, "view", patient_id=note.patient_id, obj=note)
    return render(
        request,
        "integration/note.html",
        {
            "note": note,
            "patient": note.patient,
            "mine": mine,
            "amend_form": amend_form,
            "error": error,
            "amendments": list(note.amendments.select_related("author")),
            "labels": notes.FIELD_LABELS,
            "order": (*notes.TEMPLATE_FIELDS[note.template], *notes.COMMON_FIELDS),
        },
        status=status,
    )


@require("psychotherapy.note")
def private_note_new(request: ClinicRequest, patient_id: int) -> HttpResponse:
    actor = request.actor
    patient = get_patient_for(actor, patient_id, "psychotherapy.note")
    form = PsychotherapyNoteForm(request.POST if request.method == "POST" else None)
    appointment = request.GET.get("appointment")
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                note = notes.write_psychotherapy_note(
                    actor=actor,
                    patient=patient,
                    text=form.cleaned_data["text"],
                    appointment=int(appointment) if appointment and appointment.isdigit() else None,
                )
            except ValidationError as exc:
                _errors_to_form(form, exc)
            else:
                messages.success(request, "Private note saved. Only you can read it.")
                return redirect("integration_private_note", note.pk)
        status = 422
    return render(
        request, "integration/private_form.html", {"patient": patient, "form": form}, status=status
    )


@require("integration.view")
def private_note(request: ClinicRequest, note_id: int) -> HttpResponse:
    """The author's own psychotherapy note; 404 for everybody else (admin included)."""
    actor = request.actor
    note = notes.get_own_psychotherapy_note(actor, note_id)
    edit_form = PsychotherapyNoteForm(
        request.POST if request.POST.get("action") == "edit" else None, initial={"text": note.text}
    )
    release_form = ReleaseForm(request.POST if request.POST.get("action") == "release" else None)
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "edit" and edit_form.is_valid():
                notes.edit_psychotherapy_note(
                    actor=actor, note=note, text=edit_form.cleaned_data["text"]
                )
                messages.success(request, "Private note saved.")
                return redirect("integration_private_note", note.pk)
            if action == "release" and release_form.is_valid():
                notes.release_psychotherapy_note(
                    actor=actor, note=note, **release_form.cleaned_data
                )
                messages.success(request, "Release recorded with the patient's authorization.")
                return redirect("integration_private_note", note.pk)
            if action not in ("edit", "release"):
                messages.error(request, "Choose save or release.")
        except ValidationError as exc:
            _errors_to_form(release_form if action == "release" else edit_form, exc)
        status = 422
    notes.audit_read(actor, note)
    return render(
        request,
        "integration/private_note.html",
        {
            "note": note,
            "patient": note.patient,
            "edit_form": edit_form,
            "release_form": release_form,
            "releases": list(note.releases.all()),
        },
        status=status,
    )


def _instrument_choices() -> list[tuple[str, str]]:
    return sorted(((code, i.title) for code, i in instruments().items()), key=lambda c: c[1])


@require("integration.plan")
def plan_edit(request: ClinicRequest, patient_id: int) -> HttpResponse:
    actor = request.actor
    patient = get_patient_for(actor, patient_id, "integration.plan")
    plan = TreatmentPlan.objects.filter(patient=patient, clinic=actor.clinic).first()
    goals = list(plan.goals.all()) if plan else []
    choices = _instrument_choices()
    initial = (
        {"review_on": plan.review_on, "interventions": plan.interventions, "version": plan.version}
        if plan
        else {"review_on": actor.clinic.today() + timedelta(days=42)}
    )
    form = PlanForm(request.POST if request.method == "POST" else None, initial=initial)
    goal_forms = [
        GoalForm(
            request.POST if request.method == "POST" else None,
            prefix=f"goal{i}",
            instrument_choices=choices,
            initial=(
                {
                    "words": goals[i].words,
                    "measure": goals[i].measure,
                    "instrument": goals[i].instrument,
                    "scale_label": goals[i].scale_label,
                    "baseline": goals[i].baseline,
                    "target": goals[i].target,
                }
                if i < len(goals)
                else {}
            ),
        )
        for i in range(max(GOAL_ROWS, len(goals)))
    ]
    status = 200
    if request.method == "POST":
        if form.is_valid() and all(g.is_valid() for g in goal_forms):
            data = form.cleaned_data
            rows = [
                {k: v for k, v in g.cleaned_data.items()}
                for g in goal_forms
                if (g.cleaned_data.get("words") or "").strip()
            ]
            try:
                plans.save_plan(
                    actor=actor,
                    patient=patient,
                    goals=rows,
                    interventions=data["interventions"],
                    review_on=data["review_on"],
                    version=data["version"],
                )
            except StaleVersion:
                form.add_error(
                    None, "Someone else saved this plan since you opened it. Reload and try again."
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    if field.startswith("goals."):
                        parts = field.split(".")
                        index = next(
                            (
                                n
                                for n, g in enumerate(goal_forms)
                                if (g.cleaned_data.get("words") or "").strip()
                            ),
                            0,
                        )
                        filled = [
                            g for g in goal_forms if (g.cleaned_data.get("words") or "").strip()
                        ]
                        target = (
                            filled[int(parts[1])]
                            if parts[1].isdigit() and int(parts[1]) < len(filled)
                            else goal_forms[index]
                        )
                        target.add_error(
                            parts[2] if len(parts) > 2 and parts[2] in target.fields else None,
                            errors,
                        )
                    else:
                        form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(request, "Treatment plan saved.")
                return redirect("integration_patient", patient.pk)
        status = 422
    return render(
        request,
        "integration/plan_form.html",
        {"patient": patient, "form": form, "goal_forms": goal_forms, "plan": plan},
        status=status,
    )


@require_POST
@require("integration.plan")
def homework_add(request: ClinicRequest, patient_id: int) -> HttpResponse:
    actor = request.actor
    patient = get_patient_for(actor, patient_id, "integration.plan")
    form = HomeworkForm(request.POST)
    if form.is_valid():
        try:
            plans.add_homework(actor=actor, patient=patient, **form.cleaned_data)
        except ValidationError as exc:
            _errors_to_form(form, exc)
        else:
            messages.success(request, "Practice added.")
            return redirect("integration_patient", patient.pk)
    return render(
        request, "integration/homework_form.html", {"patient": patient, "form": form}, status=422
    )


@require_POST
@require("integration.plan")
def homework_done(request: ClinicRequest, homework_id: int) -> HttpResponse:
    actor = request.actor
    homework = Homework.objects.for_clinic(actor.clinic).filter(pk=homework_id).first()
    if homework is None:
        raise Http404("No such practice.")
    plans.mark_homework_done(actor=actor, homework=homework)
    messages.success(request, "Marked done.")
    return redirect("integration_patient", homework.patient_id)


@require_POST
@require("integration.plan")
def goal_rate(request: ClinicRequest, goal_id: int) -> HttpResponse:
    actor = request.actor
    goal = (
        PlanGoal.objects.filter(pk=goal_id, plan__clinic=actor.clinic)
        .select_related("plan")
        .first()
    )
    if goal is None:
        raise Http404("No such goal.")
    form = RatingForm(request.POST)
    if form.is_valid():
        try:
            plans.rate_goal(actor=actor, goal=goal, value=form.cleaned_data["value"])
        except ValidationError as exc:
            _errors_to_form(form, exc)
        else:
            messages.success(request, "Rating saved.")
            return redirect("integration_patient", goal.plan.patient_id)
    return render(
        request,
        "integration/rate_form.html",
        {"patient": goal.plan.patient, "goal": goal, "form": form},
        status=422,
    )


@require("integration.circle")
def session_format(request: ClinicRequest, appointment_id: int) -> HttpResponse:
    """In person or video (with its meeting link) for one preparation/integration session."""
    actor = request.actor
    appointment = (
        Appointment.objects.for_clinic(actor.clinic)
        .filter(pk=appointment_id, kind__in=THERAPY_KINDS)
        .select_related("patient")
        .first()
    )
    if appointment is None:
        raise Http404("No such session.")
    detail = SessionDetail.objects.filter(appointment=appointment).first()
    form = SessionFormatForm(
        request.POST if request.method == "POST" else None,
        initial={
            "mode": detail.mode if detail else "in_person",
            "meeting_url": detail.meeting_url if detail else "",
        },
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                set_format(actor=actor, appointment=appointment, **form.cleaned_data)
            except ValidationError as exc:
                _errors_to_form(form, exc)
            else:
                messages.success(request, "Session format saved.")
                return redirect("integration_patient", appointment.patient_id)
        status = 422
    return render(
        request,
        "integration/session_format.html",
        {"appointment": appointment, "patient": appointment.patient, "form": form},
        status=status,
    )


def _circle_form_choices(actor: Any) -> dict[str, Any]:
    return {
        "therapists": list(
            Membership.objects.filter(
                clinic=actor.clinic, role__in=["therapist", "physician"], is_active=True
            )
            .select_related("user")
            .order_by("role", "user__last_name")
        ),
        "rooms": list(
            Room.objects.for_clinic(actor.clinic)
            .filter(active=True, kind__in=[RoomKind.THERAPY_ROOM, RoomKind.CONSULT_ROOM])
            .order_by("-kind", "position", "name")
        ),
        "patients": list(
            Patient.objects.for_clinic(actor.clinic).order_by("family_name", "given_name")[:200]
        ),
    }


@require("schedule.view")
def circle_list(request: ClinicRequest) -> HttpResponse:
    actor = request.actor
    now = timezone.now()
    rows = list(
        circles.circles_for(actor.clinic)
        .filter(end__gte=now - timedelta(days=30))
        .order_by("start")[:LIST]
    )
    form = None
    status = 200
    if actor.may("integration.circle"):
        choices = _circle_form_choices(actor)
        initial = {"therapist": actor.membership.pk} if actor.role == "therapist" else {}
        form = CircleForm(
            request.POST if request.method == "POST" else None, initial=initial, **choices
        )
        if request.method == "POST":
            if form.is_valid():
                data = form.cleaned_data
                therapist = next(m for m in choices["therapists"] if m.pk == data["therapist"])
                room = next(r for r in choices["rooms"] if r.pk == data["room"])
                chosen = [p for p in choices["patients"] if p.pk in set(data["patients"])]
                try:
                    circle = circles.create_circle(
                        actor=actor,
                        title=data["title"],
                        therapist=therapist,
                        room=room,
                        start=data["start"],
                        minutes=data["minutes"],
                        capacity=data["capacity"],
                        mode=data["mode"],
                        meeting_url=data["meeting_url"],
                        patients=chosen,
                    )
                except ValidationError as exc:
                    _errors_to_form(form, exc)
                else:
                    messages.success(request, "Circle booked.")
                    return redirect("integration_circle", circle.pk)
            status = 422
    elif request.method == "POST":
        return HttpResponseNotAllowed(["GET"])
    record(actor, "view", detail={"what": "integration_circles", "circles": [c.pk for c in rows]})
    return render(request, "integration/circles.html", {"rows": rows, "form": form}, status=status)


@require("schedule.view")
def circle_detail(request: ClinicRequest, circle_id: int) -> HttpResponse:
    actor = request.actor
    circle = circles.get_circle_for(actor, circle_id, "schedule.view")
    seats = list(circle.seats.select_related("patient"))
    seated = {s.patient_id for s in seats}
    add_form = None
    if actor.may("integration.circle") and circle.status == CircleStatus.BOOKED:
        others = [
            p
            for p in Patient.objects.for_clinic(actor.clinic).order_by("family_name", "given_name")[
                :200
            ]
            if p.pk not in seated
        ]
        add_form = AddSeatForm(
            request.POST if request.POST.get("action") == "add" else None, patients=others
        )
    cancel_form = (
        CancelForm(request.POST if request.POST.get("action") == "cancel" else None)
        if actor.may("integration.circle") and circle.status == CircleStatus.BOOKED
        else None
    )
    status = 200
    error = ""
    if request.method == "POST":
        action = request.POST.get("action")
        actor.check("integration.attend" if action == "attendance" else "integration.circle")
        try:
            if action == "attendance":
                actor.check("integration.attend")
                marks = {}
                for seat in seats:
                    value = request.POST.get(f"seat-{seat.patient_id}")
                    if value:
                        marks[seat.patient_id] = value
                circles.mark_attendance(actor=actor, circle=circle, marks=marks)
                messages.success(request, "Attendance saved.")
                return redirect("integration_circle", circle.pk)
            if action == "add" and add_form is not None:
                if add_form.is_valid():
                    patient = get_patient_for(
                        actor, add_form.cleaned_data["patient"], "integration.circle"
                    )
                    circles.add_to_circle(actor=actor, circle=circle, patient=patient)
                    messages.success(request, "Patient added.")
                    return redirect("integration_circle", circle.pk)
            elif action == "cancel" and cancel_form is not None:
                if cancel_form.is_valid():
                    circles.cancel_circle(
                        actor=actor, circle=circle, reason=cancel_form.cleaned_data["reason"]
                    )
                    messages.success(request, "Circle cancelled.")
                    return redirect("integration_circle", circle.pk)
            elif action not in ("add", "cancel"):
                raise PermissionDenied("You may not change this circle.")
        except ValidationError as exc:
            error = " ".join(exc.messages)
        status = 422
    record(actor, "view", obj=circle, detail={"patients": sorted(seated)})
    return render(
        request,
        "integration/circle.html",
        {
            "circle": circle,
            "seats": seats,
            "attendance": Attendance.choices,
            "error": error,
            "add_form": add_form,
            "cancel_form": cancel_form,
            "may_attend": actor.may("integration.attend")
            and circle.status != CircleStatus.CANCELLED
            and circle.start <= timezone.now(),
        },
        status=status,
    )
