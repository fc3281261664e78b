"""Pages: the live chair board, starting a session, REMS forms. Thin: parse, call, render.

The session charting page is `session_views`.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from ketaclinic.accounts.access import ClinicRequest, require
from ketaclinic.audit.services import record
from ketaclinic.patients import restricted
from ketaclinic.scheduling.access import get_appointment_for
from ketaclinic.treatment import board as board_data
from ketaclinic.treatment import rems, services
from ketaclinic.treatment.access import get_rems_form_for

# --- the board ---------------------------------------------------------------------------


def _board_context(request: ClinicRequest) -> dict[str, Any]:
    actor = request.actor
    now = timezone.now()
    data = board_data.board(actor.clinic, now)
    board_data.record_view(actor=actor, board=data, now=now)
    # A restricted patient's chair keeps its safety facts (vitals, alerts, checks due) but
    # not the name, unless the viewer is on the care team or broke the glass.
    shown = [c.session.patient for c in [*data.chairs, *data.elsewhere] if c.session]
    shown += [a.patient for a in data.waiting]
    hidden = (
        restricted.hidden_patient_ids(actor) if any(p.restricted for p in shown) else frozenset()
    )
    return {"board": data, "now": now, "hidden": hidden}


@require("clinical.view")
def board(request: ClinicRequest) -> HttpResponse:
    return render(request, "treatment/board.html", _board_context(request))


@require("clinical.view")
def board_live(request: ClinicRequest) -> HttpResponse:
    return render(request, "treatment/_board_cards.html", _board_context(request))


@require_POST
@require("session.chart")
def session_start(request: ClinicRequest, appointment_id: int) -> HttpResponse:
    actor = request.actor
    appointment = get_appointment_for(actor, appointment_id)
    try:
        session = services.start_session(actor=actor, appointment=appointment)
    except services.SessionConflict as exc:
        messages.error(request, exc.detail + " " + " ".join(exc.extra.get("missing", [])))
        return redirect("treatment_board")
    return redirect("treatment_session", session.pk)


# --- the charting page: see session_views (forms in session_forms) ----------------------------


# --- REMS -----------------------------------------------------------------------------------


@require("rems.manage")
def rems_list(request: ClinicRequest) -> HttpResponse:
    actor = request.actor
    today = actor.clinic.today()
    listing = rems.forms_listing(actor.clinic, today, page=request.GET.get("page") or 1)
    shown = [
        f.session.patient_id
        for group in (listing.overdue, listing.due, listing.submitted)
        for f in group
    ]
    record(
        actor,
        "view",
        object_type="treatment.remsform",
        detail={"view": "rems_list", "shown": shown},
    )
    return render(request, "treatment/rems_list.html", {"listing": listing, "today": today})


@require("rems.manage")
def rems_form(request: ClinicRequest, form_id: int) -> HttpResponse:
    actor = request.actor
    form = get_rems_form_for(actor, form_id)
    record(actor, "view", patient_id=form.session.patient_id, obj=form)
    data = rems.data_for(form)
    rows = [(label, data.get(key), required) for key, label, required in rems.FIELDS]
    today = actor.clinic.today()
    return render(
        request,
        "treatment/rems_form.html",
        {
            "form": form,
            "rows": rows,
            "missing": rems.missing_fields(data),
            "amended": rems.amended_after_submission(form),
            "status": rems.status_of(form, today),
            "today": today,
        },
    )


@require("rems.manage")
def rems_pdf(request: ClinicRequest, form_id: int) -> HttpResponse:
    actor = request.actor
    form = get_rems_form_for(actor, form_id)
    record(actor, "export", patient_id=form.session.patient_id, obj=form, detail={"format": "pdf"})
    response = HttpResponse(rems.as_pdf(form), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="rems-form-{form.pk}.pdf"'
    return response


@require("rems.manage")
def rems_csv(request: ClinicRequest, form_id: int) -> HttpResponse:
    actor = request.actor
    form = get_rems_form_for(actor, form_id)
    record(actor, "export", patient_id=form.session.patient_id, obj=form, detail={"format": "csv"})
    response = HttpResponse(rems.as_csv(form), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="rems-form-{form.pk}.csv"'
    return response


@require_POST
@require("rems.manage")
def rems_submitted(request: ClinicRequest, form_id: int) -> HttpResponse:
    actor = request.actor
    form = get_rems_form_for(actor, form_id)
    try:
        day = date.fromisoformat(request.POST.get("submitted_on", ""))
        rems.mark_submitted(actor=actor, form=form, submitted_on=day)
        messages.success(request, "Marked as submitted.")
    except ValueError:
        messages.error(request, "Enter the date the form was submitted.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("treatment_rems_form", form.pk)
