"""The session charting page, panel by panel.

Every form on the page is a plain POST to `.../do/<step>/` that works without JavaScript
(saved: redirect back to the page at the form's panel; refused: the whole page again with
the form as typed, 422/409). With htmx the same form posts in the background and the answer
is the form's panel only:

- refused: the panel with the form as typed and each error by its field; the rest of the
  page, and anything typed there, stays as it is;
- saved: the panel as stored now, plus, out of band, what the save changes elsewhere (the
  state, alerts, timeline, the messages and the `version` every form posts; every panel when
  the session's state changed).

The forms are in `session_forms`; the rules, transactions and audit events in `services`.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.views.decorators.http import require_POST

from ketaclinic.accounts.access import ClinicRequest, require
from ketaclinic.accounts.errors import StaleVersion
from ketaclinic.treatment import presenters, rems, reports, services
from ketaclinic.treatment.access import get_session_for
from ketaclinic.treatment.models import (
    ANXIETY_SCALE,
    INTERVENTIONS,
    NAUSEA_SCALE,
    AdverseEvent,
)
from ketaclinic.treatment.patient_checkin import reported_for
from ketaclinic.treatment.session_forms import STEPS, SessionForm

TEMPLATE = "treatment/session.html"
# The page's panels (partials of the template), in page order.
PANELS = (
    "patient",  # the header's "In treatment" state
    "head",
    "overrides",
    "alerts",
    "checklist",
    "dose",
    "vitals",
    "events",
    "discharge",
    "sign",
    "timeline",
)
ALWAYS = ("head", "alerts", "timeline")  # what any save may change besides its own panel
# What else a save changes when the session's state stays the same.
ALSO: dict[str, tuple[str, ...]] = {
    "checklist": ("overrides", "dose"),  # hard stops block the dose; weight sets it
    # The pre-dose readings are a checklist item; the discharge criteria count the latest.
    "vitals": ("overrides", "checklist", "discharge"),
    "events": ("discharge",),
    "sign": ("vitals", "dose", "discharge"),  # amendments correct readings and the dose
}
STALE = (
    "Someone else saved this session since you loaded it. It has been reloaded: check and "
    "try again."
)
NO_VERSION = (
    "This form did not say which version of the session it was filled in on, so it was not "
    "saved. The page has been reloaded: check and try again."
)


@require("clinical.view")
def session_page(request: ClinicRequest, session_id: int) -> HttpResponse:
    actor = request.actor
    return _page(request, get_session_for(actor, session_id))


def _context(
    request: ClinicRequest, session: Any, filled: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Everything the page shows (reading it is audited); `filled` brings back a refused form."""
    actor = request.actor
    services.view_session(actor=actor, session=session)
    prefill = services.prefill_dose(session) if session.state == "pre_dose" else None
    rems_missing: list[dict[str, str]] = []
    if (
        session.is_esketamine
        and session.state in ("discharged", "stopped")
        and not session.is_signed
    ):
        rems_missing = rems.missing_fields(rems.form_data(session))
    lots = []
    ledger_required = False
    if session.state == "pre_dose":
        from ketaclinic.inventory.models import Lot

        ledger_required = services.ledger_in_use(actor.clinic, session.drug)
        lots = list(
            Lot.objects.for_clinic(actor.clinic)
            .filter(
                product__substance=services.ledger_substance(session.drug),
                expiry__gte=actor.clinic.today(),
            )
            .select_related("product")
            .order_by("expiry", "number")[:20]
        )
    return {
        "session": session,
        "patient": session.patient,
        "data": presenters.detail(session),
        "patient_checkin": reported_for(session.appointment_id),
        "prefill": prefill,
        "open_alerts": [a for a in session.alert_rows if a.acknowledged_at is None],
        "lots": lots,
        "ledger_required": ledger_required,
        "rems_missing": rems_missing,
        "rems_form": getattr(session, "rems_form", None) if session.is_esketamine else None,
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
    }


def _page(
    request: ClinicRequest,
    session: Any,
    filled: dict[str, dict[str, Any]] | None = None,
    status: int = 200,
) -> HttpResponse:
    return _render(request, _context(request, session, filled), status=status)


def _render(
    request: ClinicRequest,
    context: dict[str, Any],
    main: str | None = None,
    also: tuple[str, ...] = (),
    status: int = 200,
) -> HttpResponse:
    """The whole page, or (htmx) the `main` panel with the `also` panels out of band."""
    if main is None:
        return render(request, TEMPLATE, context, status=status)
    parts = [render_to_string(f"{TEMPLATE}#{main}", context, request)]
    for name in also:
        if name != main:
            oob = context | {"oob": True}
            parts.append(render_to_string(f"{TEMPLATE}#{name}", oob, request))
    if also:
        parts.append(render_to_string("treatment/_session_oob.html", context, request))
    return HttpResponse("".join(parts), status=status)


def _panels(request: ClinicRequest, session: Any, main: str, also: tuple[str, ...]) -> HttpResponse:
    return _render(request, _context(request, session), main, also)


@require_POST
@require("session.chart")
def session_action(request: ClinicRequest, session_id: int, step: str) -> HttpResponse:
    actor = request.actor
    if step not in STEPS:
        raise Http404
    form_class = STEPS[step]
    panel = form_class.PANEL
    back = reverse("treatment_session", args=[session_id]) + f"#{form_class.ANCHOR or panel}"
    session = get_session_for(actor, session_id, "session.chart")
    version = _version(request)
    if version is None:
        # Without the version the page was loaded at, a save could overwrite someone
        # else's: refuse it rather than skip the check.
        messages.error(request, NO_VERSION)
        return _saved(request, session_id, panel, PANELS, back)
    state = (session.state, session.is_signed)
    form = form_class(request.POST, actor=actor, session=session)
    try:
        if not form.is_valid():
            return _refused(request, session_id, step, form, status=422)
        messages.success(request, form.apply(version))
    except StaleVersion:
        messages.error(request, STALE)
        return _saved(request, session_id, panel, PANELS, back)
    except services.SessionConflict as exc:
        form.add_error(None, exc.detail)
        form.listed = [
            item.get("message") or item.get("label") or item.get("finding") or ""
            for item in [
                *exc.extra.get("unmet", []),
                *exc.extra.get("blocking", []),
                *exc.extra.get("missing", []),
            ]
            if isinstance(item, dict)
        ]
        return _refused(request, session_id, step, form, status=409)
    except ValidationError as exc:
        form.add_service_error(exc)
        return _refused(request, session_id, step, form, status=422)
    for alert in form.alerts:
        messages.error(request, f"{alert.level.upper()} {alert.code}: {alert.message}")
    if not request.htmx:
        return redirect(back)
    session = get_session_for(actor, session_id)
    changed = state != (session.state, session.is_signed)
    also = PANELS if changed else (*ALWAYS, *ALSO.get(panel, ()))
    return _panels(request, session, panel, also)


def _saved(
    request: ClinicRequest, session_id: int, panel: str, also: tuple[str, ...], back: str
) -> HttpResponse:
    """Back to the page as stored (plain post), or every panel as stored (htmx)."""
    if not request.htmx:
        return redirect(back)
    return _panels(request, get_session_for(request.actor, session_id), panel, also)


def _refused(
    request: ClinicRequest, session_id: int, step: str, form: SessionForm, *, status: int
) -> HttpResponse:
    """The refused form as it was typed, each error by its field, the rest as stored.

    With htmx only the form's panel comes back (200: htmx swaps only a success), so what
    was typed in the other panels stays. An error the page would not show (a field, or
    the whole form, that this session's page does not have: a crafted post) goes on top
    of the form's panel with the field's name, so nothing the service said is lost.
    """
    # Re-read: a refused write rolled back, and the page shows what is stored.
    session = get_session_for(request.actor, session_id)
    state = form.filled()
    context = _context(request, session, {step: state})
    main = form.PANEL if request.htmx else None
    answer = _render(request, context, main, status=200 if request.htmx else status)
    html = answer.content.decode()
    lost = [
        m if name == "form" else f"{name}: {m}"
        for name, messages_ in state["e"].items()
        for m in messages_
        if escape(m) not in html
    ]
    lost_listed = [item for item in state["listed"] if escape(item) not in html]
    if not lost and not lost_listed:
        return answer
    context["filled"]["stray"] = {"panel": form.PANEL, "e": {"form": lost}, "listed": lost_listed}
    return _render(request, context, main, status=200 if request.htmx else status)


def _version(request: HttpRequest) -> int | None:
    raw = request.POST.get("version", "")
    if not raw.isdigit() or len(raw) > 18:  # a version is a small counter; the rest is noise
        return None
    return int(raw)


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
