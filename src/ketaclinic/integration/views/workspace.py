"""The therapist's workspace and a patient's timeline (thin: parse, check, call a service)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Exists, OuterRef
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone

from ketaclinic.accounts.access import ClinicRequest, require
from ketaclinic.audit.services import record
from ketaclinic.integration import circles, notes, planning, plans, replanning
from ketaclinic.integration.forms import (
    HomeworkForm,
)
from ketaclinic.integration.journal import shared_entries
from ketaclinic.integration.models import (
    CircleSeat,
    CircleStatus,
    Homework,
    ProgressNote,
    TreatmentPlan,
)
from ketaclinic.integration.views.common import LIST
from ketaclinic.measures.models import Alert, Response
from ketaclinic.patients.access import get_patient_for
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling.models import THERAPY_KINDS, Appointment


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
    session_rows = (
        Appointment.objects.for_clinic(actor.clinic)
        .filter(kind__in=THERAPY_KINDS, start__gte=day_start, start__lt=week_end)
        .exclude(status="cancelled")
        .select_related("patient", "room", "staff__user", "integration_detail")
        .order_by("start")
    )
    circle_rows = (
        circles.circles_for(actor.clinic)
        .filter(start__gte=day_start, start__lt=week_end)
        .exclude(status=CircleStatus.CANCELLED)
    )
    if mine:
        session_rows = session_rows.filter(staff=actor.membership)
        circle_rows = circle_rows.filter(therapist=actor.membership)
    sessions = list(session_rows[:LIST])
    week_circles = list(circle_rows[:LIST])
    tomorrow = day_start + timedelta(days=1)
    today_rows = [a for a in sessions if a.start < tomorrow]
    week_rows = [a for a in sessions if a.start >= tomorrow]
    # Each row with whether it is late (over 24 hours).
    due = [
        (note, now - note.created_at > timedelta(hours=24))
        for note in (notes.notes_due(actor) if actor.may("integration.note") else [])
    ]
    # Held sessions of the last 14 days with no progress note yet.
    unnoted: list[tuple[Appointment, bool]] = []
    if actor.may("integration.note"):
        has_note = ProgressNote.objects.filter(appointment=OuterRef("pk"))
        held = (
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
        unnoted = [(a, now - a.end > timedelta(hours=24)) for a in held]
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
    open_alerts = (
        Alert.objects.for_clinic(actor.clinic).filter(status="open").select_related("patient")
    )
    if mine:
        open_alerts = open_alerts.filter(patient_id__in=_caseload_ids(actor))
    alerts = list(open_alerts.order_by("-opened_at")[:LIST])
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
