"""Pages: the live chair board, the session charting page, REMS forms. Thin: parse, call, render."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_POST

from ketaclinic.accounts.access import ClinicRequest, require
from ketaclinic.audit.services import record
from ketaclinic.patients import restricted
from ketaclinic.patients.services import StaleVersion
from ketaclinic.scheduling.access import get_appointment_for
from ketaclinic.scheduling.services import clinic_today
from ketaclinic.treatment import board as board_data
from ketaclinic.treatment import presenters, rems, reports, services
from ketaclinic.treatment import vitals as vitals_path
from ketaclinic.treatment.access import get_rems_form_for, get_session_for
from ketaclinic.treatment.models import (
    ANXIETY_SCALE,
    INTERVENTIONS,
    NAUSEA_SCALE,
    AdverseEvent,
)
from ketaclinic.treatment.patient_checkin import reported_for

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
def board(request: HttpRequest) -> HttpResponse:
    return render(request, "treatment/board.html", _board_context(request))


@require("clinical.view")
def board_live(request: HttpRequest) -> HttpResponse:
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


# --- the charting page ---------------------------------------------------------------------


@require("clinical.view")
def session_page(request: ClinicRequest, session_id: int) -> HttpResponse:
    actor = request.actor
    return _session_response(request, get_session_for(actor, session_id))


def _session_response(
    request: ClinicRequest,
    session: Any,
    filled: dict[str, dict[str, Any]] | None = None,
    status: int = 200,
) -> HttpResponse:
    """The charting page; `filled` brings back one form's typed values and its errors."""
    actor = request.actor
    services.view_session(actor=actor, session=session)
    data = presenters.detail(session)
    prefill = None
    if session.state == "pre_dose":
        prefill = services.prefill_dose(session)
    rems_missing: list[dict[str, str]] = []
    rems_form = None
    if (
        session.is_esketamine
        and session.state in ("discharged", "stopped")
        and not session.is_signed
    ):
        rems_missing = rems.missing_fields(rems.form_data(session))
    if session.is_esketamine:
        rems_form = getattr(session, "rems_form", None)
    open_alerts = [a for a in session.alert_rows if a.acknowledged_at is None]
    lots = []
    ledger_required = False
    if session.state == "pre_dose":
        from ketaclinic.inventory.models import Lot

        ledger_required = services.ledger_in_use(actor.clinic, session.drug)
        lots = list(
            Lot.objects.for_clinic(actor.clinic)
            .filter(
                product__substance=services.ledger_substance(session.drug),
                expiry__gte=clinic_today(actor.clinic),
            )
            .select_related("product")
            .order_by("expiry", "number")[:20]
        )
    return render(
        request,
        "treatment/session.html",
        {
            "session": session,
            "patient": session.patient,
            "data": data,
            "patient_checkin": reported_for(session.appointment_id),
            "prefill": prefill,
            "open_alerts": open_alerts,
            "lots": lots,
            "ledger_required": ledger_required,
            "rems_missing": rems_missing,
            "rems_form": rems_form,
            "nausea_scale": NAUSEA_SCALE.items(),
            "anxiety_scale": ANXIETY_SCALE.items(),
            "interventions": INTERVENTIONS.items(),
            "ae_types": AdverseEvent.Type.choices,
            "ae_severities": AdverseEvent.Severity.choices,
            "ae_outcomes": AdverseEvent.Outcome.choices,
            "blocking": [row for row in session.checklist_rows if row.blocks],
            "now": timezone.now(),
            "earliest": services.earliest_discharge(session, services.session_protocol(session)),
            "filled": filled or {},
        },
        status=status,
    )


def _bool(value: str | None) -> bool | None:
    return {"yes": True, "no": False}.get(value or "")


def _when(request: ClinicRequest, name: str) -> datetime | None:
    """A time from a form: 'HH:MM' (clinic time) or an ISO datetime; blank = now.

    HH:MM is the most recent such time, up to the allowed clock skew ahead: at 00:05,
    "23:58" is seven minutes ago (yesterday), not 23 hours ahead.
    """
    raw = (request.POST.get(name) or "").strip()
    if not raw:
        return None
    tz = request.actor.clinic.tz
    if len(raw) <= 5 and ":" in raw:
        try:
            hours, minutes = (int(p) for p in raw.split(":"))
            clock = time(hours, minutes)
        except ValueError:
            raise ValidationError({name: "Enter the time as HH:MM."}) from None
        return latest_clock_time(clock, now=timezone.now(), tz=tz)
    parsed = parse_datetime(raw)
    if parsed is None:
        raise ValidationError({name: "Enter the time as HH:MM."})
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, tz)
    return parsed


def latest_clock_time(clock: time, *, now: datetime, tz: Any) -> datetime:
    """The most recent moment the clinic's clock showed `clock`, at most CLOCK_SKEW ahead."""
    local_now = timezone.localtime(now, tz)
    for days in (0, 1):
        day = local_now.date() - timedelta(days=days)
        candidate = datetime.combine(day, clock, tzinfo=tz)
        if candidate <= now + services.CLOCK_SKEW:
            return candidate
    raise AssertionError("yesterday's time is always in the past")


def _version(request: HttpRequest) -> int | None:
    try:
        return int(request.POST.get("version", ""))
    except ValueError:
        return None


def _step_check(request: HttpRequest, actor: Any, session: Any, v: int | None) -> str:
    services.check_item(
        actor=actor,
        session=session,
        item_id=request.POST.get("item", ""),
        met=request.POST.get("met") == "yes",
        finding=request.POST.get("finding", ""),
        hours_since_food=request.POST.get("hours_since_food") or None,
        hours_since_liquids=request.POST.get("hours_since_liquids") or None,
        expected_version=v,
    )
    return "Checklist updated."


def _step_override(request: HttpRequest, actor: Any, session: Any, v: int | None) -> str:
    services.override_item(
        actor=actor,
        session=session,
        item_id=request.POST.get("item", ""),
        reason=request.POST.get("reason", ""),
        expected_version=v,
    )
    return "Override recorded."


def _step_pregnancy(request: HttpRequest, actor: Any, session: Any, v: int | None) -> str:
    services.set_pregnancy_applies(
        actor=actor,
        session=session,
        applies=request.POST.get("applies") == "yes",
        reason=request.POST.get("reason", ""),
        expected_version=v,
    )
    return "Checklist updated."


def _step_weight(request: HttpRequest, actor: Any, session: Any, v: int | None) -> str:
    """Record today's weight on the patient record (patients' own service and checks)."""
    from ketaclinic.patients.services import update_patient

    raw = (request.POST.get("weight_kg") or "").strip()
    try:
        weight = Decimal(raw)
    except (InvalidOperation, ValueError):
        raise ValidationError({"weight_kg": "Enter the weight in kg."}) from None
    if not weight.is_finite() or not Decimal(25) <= weight <= Decimal(350):
        raise ValidationError({"weight_kg": "A weight must be between 25 and 350 kg."})
    update_patient(
        actor=actor,
        patient=session.patient,
        data={
            "weight_kg": weight.quantize(Decimal("0.1")),
            "weight_measured_on": clinic_today(actor.clinic),
        },
    )
    services.refresh_checklist(session, actor=actor)
    return "Weight recorded."


def _ledger_lot(request: HttpRequest, actor: Any) -> Any:
    raw = (request.POST.get("ledger_lot_id") or "").strip()
    if not raw:
        return None
    from ketaclinic.inventory.models import Lot

    lot = (
        Lot.objects.for_clinic(actor.clinic).select_related("product").filter(pk=raw).first()
        if raw.isdigit()
        else None
    )
    if lot is None:
        raise ValidationError({"ledger_lot_id": "No such lot in this clinic."})
    return lot


def _step_dosing(request: HttpRequest, actor: Any, session: Any, v: int | None) -> str:
    services.begin_dosing(
        ledger_lot=_ledger_lot(request, actor),
        actor=actor,
        session=session,
        product=request.POST.get("product", ""),
        lot_number=request.POST.get("lot_number", ""),
        dose_mg=request.POST.get("dose_mg") or None,
        concentration_mg_per_ml=request.POST.get("concentration_mg_per_ml") or None,
        started_at=_when(request, "started_at"),
        expected_version=v,
    )
    return "Dosing started."


def _step_device(request: HttpRequest, actor: Any, session: Any, v: int | None) -> str:
    device, overridden = services.record_device(
        actor=actor,
        session=session,
        given_at=_when(request, "given_at"),
        expected_version=v,
        override_reason=request.POST.get("override_reason", ""),
    )
    if overridden:
        return f"Device {device.number} recorded with a physician override: {overridden[-1]}"
    return f"Device {device.number} recorded."


def _step_infusion(request: HttpRequest, actor: Any, session: Any, v: int | None) -> str:
    services.change_infusion(
        actor=actor,
        session=session,
        kind=request.POST.get("kind", ""),
        reason=request.POST.get("reason", ""),
        rate_ml_per_h=request.POST.get("rate_ml_per_h") or None,
        expected_version=v,
    )
    return "Infusion change recorded."


def _step_dosing_end(request: HttpRequest, actor: Any, session: Any, v: int | None) -> str:
    services.end_dosing(
        actor=actor,
        session=session,
        drawn=request.POST.get("drawn"),
        given=request.POST.get("given"),
        left_over=request.POST.get("left_over"),
        waste_manner=request.POST.get("waste_manner", ""),
        ended_at=_when(request, "ended_at"),
        expected_version=v,
    )
    return "Dosing ended; monitoring."


def _step_vitals(request: HttpRequest, actor: Any, session: Any, v: int | None) -> str:
    values = {field: request.POST.get(field) or None for field in services.VITAL_FIELDS}
    reading, alerts = vitals_path.record_vitals(
        actor=actor,
        session=session,
        values=values,
        taken_at=_when(request, "taken_at"),
        expected_version=v,
    )
    for alert in alerts:
        messages.error(request, f"{alert.level.upper()} {alert.code}: {alert.message}")
    return f"Vitals recorded (BP {reading.bp})."


def _step_observation(request: HttpRequest, actor: Any, session: Any, v: int | None) -> str:
    observation, alerts = services.record_observation(
        actor=actor,
        session=session,
        kind=request.POST.get("kind", ""),
        value=request.POST.get("value") or None,
        text=request.POST.get("text", ""),
        taken_at=_when(request, "taken_at"),
        expected_version=v,
    )
    for alert in alerts:
        messages.error(request, f"{alert.level.upper()} {alert.code}: {alert.message}")
    return f"{observation.get_kind_display()} recorded."


def _step_ack(request: HttpRequest, actor: Any, session: Any, v: int | None) -> str:
    services.acknowledge_alert(
        actor=actor,
        session=session,
        alert_id=int(request.POST.get("alert", "0") or 0),
        expected_version=v,
    )
    return "Alert acknowledged."


def _step_adverse(request: HttpRequest, actor: Any, session: Any, v: int | None) -> str:
    services.record_adverse_event(
        actor=actor,
        session=session,
        type=request.POST.get("type", ""),
        severity=request.POST.get("severity", ""),
        outcome=request.POST.get("outcome", ""),
        onset_at=_when(request, "onset_at"),
        interventions=request.POST.getlist("interventions"),
        drug_given=request.POST.get("drug_given", ""),
        serious=request.POST.get("serious") == "yes",
        note=request.POST.get("note", ""),
        expected_version=v,
    )
    return "Adverse event recorded."


def _step_assessment(request: HttpRequest, actor: Any, session: Any, v: int | None) -> str:
    unmet = services.assess_discharge(
        actor=actor,
        session=session,
        dissociation_resolved=_bool(request.POST.get("dissociation_resolved")),
        walks_steadily=_bool(request.POST.get("walks_steadily")),
        escort_present=_bool(request.POST.get("escort_present")),
        respiratory_depression=_bool(request.POST.get("respiratory_depression")),
        could_have_left_at=_when(request, "could_have_left_at"),
        expected_version=v,
    )
    if unmet:
        return "Assessment saved; not yet ready: " + " ".join(u.message for u in unmet)
    return "Assessment saved: ready for discharge."


def _step_discharge(request: HttpRequest, actor: Any, session: Any, v: int | None) -> str:
    services.discharge(
        actor=actor,
        session=session,
        override_reason=request.POST.get("override_reason", ""),
        could_have_left_at=_when(request, "could_have_left_at"),
        expected_version=v,
    )
    return "Patient discharged."


def _step_stop(request: HttpRequest, actor: Any, session: Any, v: int | None) -> str:
    services.stop_session(
        actor=actor,
        session=session,
        reason=request.POST.get("reason", ""),
        drawn=request.POST.get("drawn"),
        given=request.POST.get("given"),
        left_over=request.POST.get("left_over"),
        waste_manner=request.POST.get("waste_manner", ""),
        expected_version=v,
    )
    return "Session stopped."


def _step_sign(request: HttpRequest, actor: Any, session: Any, v: int | None) -> str:
    services.sign_session(actor=actor, session=session, expected_version=v)
    return "Signed."


def _step_amend(request: HttpRequest, actor: Any, session: Any, v: int | None) -> str:
    services.add_amendment(
        actor=actor,
        session=session,
        target=request.POST.get("target", ""),
        field=request.POST.get("field", ""),
        new_value=request.POST.get("new_value", ""),
        reason=request.POST.get("reason", ""),
        expected_version=v,
    )
    return "Amendment recorded."


STEPS: dict[str, tuple[Callable[..., str], str]] = {
    "check": (_step_check, "checklist"),
    "override": (_step_override, "checklist"),
    "pregnancy": (_step_pregnancy, "checklist"),
    "weight": (_step_weight, "checklist"),
    "dosing": (_step_dosing, "dose"),
    "device": (_step_device, "dose"),
    "infusion": (_step_infusion, "dose"),
    "dosing_end": (_step_dosing_end, "dose"),
    "vitals": (_step_vitals, "vitals"),
    "observation": (_step_observation, "vitals"),
    "ack": (_step_ack, "alerts"),
    "adverse": (_step_adverse, "events"),
    "assessment": (_step_assessment, "discharge"),
    "discharge": (_step_discharge, "discharge"),
    "stop": (_step_stop, "top"),
    "sign": (_step_sign, "sign"),
    "amend": (_step_amend, "sign"),
}


@require_POST
@require("session.chart")
def session_action(request: ClinicRequest, session_id: int, step: str) -> HttpResponse:
    actor = request.actor
    if step not in STEPS:
        raise Http404
    handler, anchor = STEPS[step]
    session = get_session_for(actor, session_id, "session.chart")
    version = _version(request)
    if version is None:
        # Without the version the page was loaded at, a save could overwrite someone
        # else's: refuse it rather than skip the check.
        messages.error(
            request,
            "This form did not say which version of the session it was filled in on, so it "
            "was not saved. The page has been reloaded: check and try again.",
        )
        return redirect(reverse("treatment_session", args=[session.pk]) + f"#{anchor}")
    try:
        _refuse_nul_bytes(request)
        messages.success(request, handler(request, actor, session, version))
    except StaleVersion:
        messages.error(
            request,
            "Someone else saved this session since you loaded it. It has been reloaded: check and try again.",
        )
    except services.SessionConflict as exc:
        listed = [
            item.get("message") or item.get("label") or item.get("finding") or ""
            for item in [
                *exc.extra.get("unmet", []),
                *exc.extra.get("blocking", []),
                *exc.extra.get("missing", []),
            ]
            if isinstance(item, dict)
        ]
        return _refused(request, session_id, step, {"form": [exc.detail]}, listed, status=409)
    except ValidationError as exc:
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"form": exc.messages}
        return _refused(request, session_id, step, errors, [], status=422)
    return redirect(reverse("treatment_session", args=[session.pk]) + f"#{anchor}")


def _refuse_nul_bytes(request: HttpRequest) -> None:
    """No typed text may hold a NUL byte (PostgreSQL cannot store one): name each field."""
    bad = {
        name: "Remove the invisible NUL character from this field."
        for name, values in request.POST.lists()
        if any("\x00" in value for value in values)
    }
    if bad:
        raise ValidationError(bad)


def _refused(
    request: ClinicRequest,
    session_id: int,
    step: str,
    errors: dict[str, list[str]],
    listed: list[str],
    *,
    status: int,
) -> HttpResponse:
    """The page again with the refused form as it was typed, each error by its field.

    An error about a field the form does not show goes at the top of the form, with the
    field's name, so that nothing the service said is lost.
    """
    actor = request.actor
    shown = set(request.POST)
    by_field: dict[str, list[str]] = {"form": list(errors.get("form", []))}
    for name, messages_ in errors.items():
        if name == "form":
            continue
        if name in shown and name not in ("version", "csrfmiddlewaretoken"):
            by_field[name] = list(messages_)
        else:
            by_field["form"] += [f"{name}: {m}" for m in messages_]
    values = {name: request.POST.get(name, "") for name in request.POST}
    values["checked"] = request.POST.getlist("interventions")
    filled = {step: {"v": values, "e": by_field, "listed": listed}}
    # Re-read: a refused write rolled back, and the page shows what is stored.
    session = get_session_for(actor, session_id)
    return _session_response(request, session, filled, status=status)


@require("clinical.view")
def session_pdf(request: ClinicRequest, session_id: int) -> HttpResponse:
    actor = request.actor
    session = get_session_for(actor, session_id)
    services.view_session(actor=actor, session=session, what="summary_pdf")
    response = HttpResponse(reports.summary_pdf(session), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="session-{session.pk}.pdf"'
    return response


@require("clinical.view")
def session_chart_svg(request: ClinicRequest, session_id: int) -> HttpResponse:
    actor = request.actor
    session = get_session_for(actor, session_id)
    services.view_session(actor=actor, session=session, what="vitals_chart")
    return HttpResponse(reports.vitals_chart_svg(session), content_type="image/svg+xml")


# --- REMS -----------------------------------------------------------------------------------


@require("rems.manage")
def rems_list(request: ClinicRequest) -> HttpResponse:
    actor = request.actor
    today = clinic_today(actor.clinic)
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
    today = clinic_today(actor.clinic)
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
