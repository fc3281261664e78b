"""Measures pages: clinician entry, trend charts, the alert list, sending links, the patient page."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from ketaclinic import limits
from ketaclinic.accounts.access import ClinicRequest, client_ip, require
from ketaclinic.clinical.instruments import Instrument
from ketaclinic.measures import services
from ketaclinic.measures.charts import trend_svg
from ketaclinic.measures.models import AlertAction, AlertStatus, ScheduleKind
from ketaclinic.measures.registry import has_total, instruments, patient_fillable
from ketaclinic.patients.access import get_patient_for
from ketaclinic.patients.services import view_patient

PAGE_SIZE = 25
# Public questionnaire page: requests allowed per address and per link in the window.
RATE_WINDOW_SECONDS = 600
RATE_PER_IP = 60
RATE_PER_TOKEN = 20


# --------------------------------------------------------------------------- answer forms


def parse_answers(definition: Instrument, data: Any, prefix: str = "") -> list[Any]:
    """Answers in item order from form fields "<prefix>item_<n>" (missing -> None).

    For an instrument with skip logic (C-SSRS), an item the gate says to skip is set to
    None whatever the form sent, so a patient who answered it before changing the gate
    answer is not refused; the API stays strict.
    """
    answers: list[Any] = []
    for item in definition.items:
        raw = data.get(f"{prefix}item_{item.number}", "")
        if raw in ("", None):
            answers.append(None)
        elif item.is_boolean:
            answers.append({"true": True, "false": False}.get(raw, raw))
        else:
            try:
                answers.append(int(raw))
            except (TypeError, ValueError):
                answers.append(raw)
    for rule in definition.scoring.skip_rules:
        if answers[rule.gate - 1] == rule.when and answers[rule.gate - 1] is not None:
            for number in rule.skip:
                answers[number - 1] = None
    return answers


def item_rows(
    definition: Instrument, answers: list[Any] | None, errors: dict[str, str], prefix: str = ""
) -> list[dict[str, Any]]:
    """What the form template needs per item: options, the chosen value, any error."""
    skipped_by: dict[int, tuple[int, str]] = {}
    for rule in definition.scoring.skip_rules:
        gate = definition.items[rule.gate - 1]
        label = next(o.label for o in gate.options if o.value == rule.when)
        for number in rule.skip:
            skipped_by[number] = (rule.gate, label)
    alternatives: dict[int, str] = {}
    for group in definition.scoring.answer_one_of:
        names = " or ".join(str(n) for n in group.items)
        for number in group.items:
            alternatives[number] = f"Answer question {names}; leave the other one blank."
    rows = []
    for item in definition.items:
        chosen = answers[item.number - 1] if answers else None
        rows.append(
            {
                "item": item,
                "name": f"{prefix}item_{item.number}",
                "options": [
                    {
                        "value": "true"
                        if o.value is True
                        else "false"
                        if o.value is False
                        else o.value,
                        "label": o.label,
                        "checked": chosen is not None
                        and chosen == o.value
                        and type(chosen) is type(o.value),
                        "id": f"{prefix}item_{item.number}_{str(o.value).lower()}",
                    }
                    for o in item.options
                ],
                "error": errors.get(f"answers.{item.number}", ""),
                "skip_note": (
                    f"Skip if you answered “{skipped_by[item.number][1]}” to question "
                    f"{skipped_by[item.number][0]}."
                    if item.number in skipped_by
                    else alternatives.get(item.number, "")
                ),
            }
        )
    return rows


def unanswered(definition: Instrument, answers: list[Any]) -> list[int]:
    """The numbers of the items left blank that the patient was meant to answer.

    Items the instrument's skip logic skips, and the other half of an "answer one of"
    pair that was answered, are not missing.
    """
    exempt: set[int] = set()
    for rule in definition.scoring.skip_rules:
        if answers[rule.gate - 1] == rule.when:
            exempt.update(rule.skip)
    for group in definition.scoring.answer_one_of:
        if any(answers[n - 1] is not None for n in group.items):
            exempt.update(group.items)
    return [
        item.number
        for item in definition.items
        if answers[item.number - 1] is None and item.number not in exempt
    ]


def posted_answers(
    definitions: list[Instrument], data: Any
) -> tuple[dict[str, list[Any]], dict[str, dict[str, str]], str]:
    """The answers posted for each instrument and, while some are blank and the patient has
    not chosen "Send with blanks", an error by each blank item and the form's message.

    A questionnaire is sent once: ask about a blank before spending it (a slip of the thumb
    is more likely than a choice). The patient may still send it as it is.
    """
    answers = {d.code: parse_answers(d, data, prefix=f"{d.code}-") for d in definitions}
    if data.get("skip_anyway"):
        return answers, {}, ""
    errors: dict[str, dict[str, str]] = {}
    for d in definitions:
        for number in unanswered(d, answers[d.code]):
            errors.setdefault(d.code, {})[f"answers.{number}"] = (
                "Not answered yet: choose an answer, or leave it blank on purpose."
            )
    count = sum(len(e) for e in errors.values())
    if not count:
        return answers, {}, ""
    return (
        answers,
        errors,
        f"{count} question{'s' if count != 1 else ''} left blank: see the ones marked "
        "below. Answer them, or choose “Send with blanks” if you prefer not to answer.",
    )


def add_answer_errors(errors: dict[str, dict[str, str]], exc: ValidationError) -> str:
    """Put a refused submission's field errors ("PHQ9.answers.3") by their questions;
    returns the form's message."""
    fields = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    for field, texts in fields.items():
        code, _, rest = field.partition(".")
        errors.setdefault(code, {})[rest] = " ".join(texts)
    return "Some questions need an answer: see the ones marked below."


def answer_sections(
    definitions: list[Instrument],
    answers: dict[str, list[Any]],
    errors: dict[str, dict[str, str]],
) -> list[dict[str, Any]]:
    """Each instrument's questions for the patient's form, with what was answered and why
    an answer was refused."""
    return [
        {
            "definition": d,
            "rows": item_rows(d, answers.get(d.code), errors.get(d.code, {}), prefix=f"{d.code}-"),
            "error": errors.get(d.code, {}).get("answers", ""),
        }
        for d in definitions
    ]


def parse_taken_at(text: str) -> datetime | None:
    """A datetime-local value read in the clinic's time zone (None when blank)."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError({"taken_at": "Give the date and time it was taken."}) from None


def _errors(exc: ValidationError) -> dict[str, str]:
    return {field: " ".join(msgs) for field, msgs in exc.message_dict.items()}


# --------------------------------------------------------------------------- clinician entry


@require("measures.record")
def measure_entry(request: ClinicRequest, patient_id: int) -> HttpResponse:
    """One screen to enter any instrument; the result (severity, alerts) shows at once."""
    actor = request.actor
    patient = get_patient_for(actor, patient_id, "measures.record")
    loaded = instruments()
    code = request.POST.get("instrument") or request.GET.get("instrument") or ""
    definition = loaded.get(code)
    context: dict[str, Any] = {
        "patient": patient,
        "choices": sorted(loaded.values(), key=lambda i: i.title),
        "definition": definition,
        "result": None,
        "alerts": [],
        "form_error": "",
        "taken_at_value": request.POST.get("taken_at", "") if request.method == "POST" else "",
    }
    answers = None
    errors: dict[str, str] = {}
    if request.method == "POST":
        if definition is None:
            context["form_error"] = "Choose a questionnaire first."
        else:
            answers = parse_answers(definition, request.POST)
            try:
                response, opened = services.record_response(
                    actor=actor,
                    patient=patient,
                    instrument=definition.code,
                    answers=answers,
                    taken_at=parse_taken_at(request.POST.get("taken_at", "")),
                )
            except ValidationError as exc:
                errors = _errors(exc)
                context["form_error"] = (
                    errors.get("answers", "")
                    or errors.get("taken_at", "")
                    or ("Some answers need attention: see the questions marked below.")
                )
            else:
                context["result"] = response
                context["score"] = response.score
                context["alerts"] = opened
                answers = None
    else:
        view_patient(actor=actor, patient=patient, what="measure_entry")
    if definition is not None:
        context["rows"] = item_rows(definition, answers, errors)
    if request.htmx:
        return render(request, "measures/entry.html#entry", context)
    return render(request, "measures/entry.html", context)


@require("clinical.view")
def trend_chart(request: ClinicRequest, patient_id: int, code: str) -> HttpResponse:
    """The trend chart of one instrument for a patient, as image/svg+xml."""
    actor = request.actor
    patient = get_patient_for(actor, patient_id, "clinical.view")
    definition = instruments().get(code)
    if definition is None or not has_total(definition):
        raise Http404("No chart for this instrument.")
    points = [(at, total) for _code, at, total in services.totals_for(patient, code)]
    services.view_measures(actor=actor, patient=patient, what=f"chart:{code}")
    svg = trend_svg(definition, points, actor.clinic.tz, services.treatment_times(patient))
    response = HttpResponse(svg, content_type="image/svg+xml")
    response["Cache-Control"] = "private, no-store"
    return response


# --------------------------------------------------------------------------- alerts


@require("clinical.view")
def alert_list(request: ClinicRequest) -> HttpResponse:
    """The clinic's alerts: open ones first; resolved ones on request."""
    actor = request.actor
    status = request.GET.get("status", "open")
    if status not in AlertStatus.values:
        status = AlertStatus.OPEN
    page = Paginator(services.alerts_for(actor=actor, status=status), PAGE_SIZE).get_page(
        request.GET.get("page") or 1
    )
    services.view_alerts(actor=actor, alerts=list(page.object_list))
    return render(
        request,
        "measures/alerts.html",
        {"page": page, "status": status, "actions": AlertAction.choices},
    )


@require_POST
@require("alerts.resolve")
def alert_resolve(request: ClinicRequest, alert_id: int) -> HttpResponse:
    """Close an alert with the action taken and a note (a person, never a process)."""
    actor = request.actor
    alert = services.get_alert_for(actor, alert_id, "alerts.resolve")
    try:
        services.resolve_alert(
            actor=actor,
            alert=alert,
            action=request.POST.get("action", ""),
            note=request.POST.get("note", ""),
        )
    except ValidationError as exc:
        messages.error(
            request, f"Alert {alert.pk} not resolved — " + " ".join(_errors(exc).values())
        )
    else:
        messages.success(request, f"Alert {alert.pk} resolved.")
    target = request.POST.get("next", "")
    if target == "chart":
        return redirect("patient_chart", patient_id=alert.patient_id)
    return redirect("alert_list")


# --------------------------------------------------------------------------- sending links


@require_POST
@require("measures.send")
def send_link(request: ClinicRequest, patient_id: int) -> HttpResponse:
    actor = request.actor
    patient = get_patient_for(actor, patient_id, "measures.send")
    try:
        link = services.send_questionnaire(
            actor=actor, patient=patient, instruments=request.POST.getlist("instruments")
        )
    except ValidationError as exc:
        messages.error(request, "Questionnaire not sent — " + " ".join(_errors(exc).values()))
    else:
        messages.success(
            request,
            f"Questionnaire link e-mailed ({', '.join(link.instruments)}); "
            f"it works once, for {services.link_hours()} hours.",
        )
    return redirect("patient_chart", patient_id=patient.pk)


@require_POST
@require("measures.send")
def schedule_add(request: ClinicRequest, patient_id: int) -> HttpResponse:
    actor = request.actor
    patient = get_patient_for(actor, patient_id, "measures.send")
    every = request.POST.get("every_days", "")
    try:
        services.add_schedule(
            actor=actor,
            patient=patient,
            instruments=request.POST.getlist("instruments"),
            kind=request.POST.get("kind", ""),
            every_days=int(every) if every.strip().isdigit() else None,
        )
    except ValidationError as exc:
        messages.error(request, "Schedule not added — " + " ".join(_errors(exc).values()))
    else:
        messages.success(request, "Schedule added.")
    return redirect("patient_chart", patient_id=patient.pk)


@require_POST
@require("measures.send")
def schedule_stop(request: ClinicRequest, schedule_id: int) -> HttpResponse:
    actor = request.actor
    schedule = services.get_schedule_for(actor, schedule_id)
    services.stop_schedule(actor=actor, schedule=schedule)
    messages.success(request, "Schedule stopped.")
    return redirect("patient_chart", patient_id=schedule.patient_id)


# --------------------------------------------------------------------------- the patient's page


def _rate_limited(request: HttpRequest, token: str) -> bool:
    """True when this address or this link asked too often in the window (shared cache)."""
    keys = [
        (f"measures:q:ip:{client_ip(request) or '-'}", RATE_PER_IP),
        (f"measures:q:tok:{services.hash_link_token(token)[:32]}", RATE_PER_TOKEN),
    ]
    # Both are counted, always: a limited address must not stop a link's own count.
    over = [limits.limited_after_hit(key, limit, RATE_WINDOW_SECONDS) for key, limit in keys]
    return any(over)


def _link_state(request: HttpRequest, state: str, link: Any) -> HttpResponse:
    """The plain page for a link that cannot take answers: expired, used or not valid."""
    status = 404 if state == services.LinkState.UNKNOWN else 410
    return render(
        request,
        "measures/link_state.html",
        {"state": state, "clinic": link.clinic if link else None},
        status=status,
    )


def questionnaire_link(request: HttpRequest, token: str) -> HttpResponse:
    """The page a patient opens from the e-mail: no login, the clinic's name and the questions."""
    if _rate_limited(request, token):
        response = render(request, "measures/link_state.html", {"state": "limited"}, status=429)
        response["Retry-After"] = str(RATE_WINDOW_SECONDS)
        return response
    link, state = services.find_link(token)
    if state != services.LinkState.VALID or link is None:
        return _link_state(request, state, link)
    definitions = patient_fillable(link.instruments)
    answers: dict[str, list[Any]] = {}
    errors: dict[str, dict[str, str]] = {}
    form_error = ""
    asks_again = False
    if request.method == "POST":
        answers, errors, form_error = posted_answers(definitions, request.POST)
        asks_again = bool(errors)
    if request.method == "POST" and not asks_again:
        try:
            stored = services.submit_link(raw=token, answers=answers, ip=client_ip(request))
        except services.LinkUnavailable as exc:
            # Used or expired between opening and sending: say which, plainly.
            return _link_state(request, exc.state, exc.link)
        except ValidationError as exc:
            form_error = add_answer_errors(errors, exc)
        else:
            return render(
                request,
                "measures/link_done.html",
                {"clinic": link.clinic, "alerted": any(alerts for _, alerts in stored)},
            )
    elif request.method != "POST":
        services.open_link(link=link, ip=client_ip(request))
    response = render(
        request,
        "measures/link_form.html",
        {
            "clinic": link.clinic,
            "sections": answer_sections(definitions, answers, errors),
            "form_error": form_error,
            "token": token,
            "asks_again": asks_again,
        },
    )
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "same-origin"
    return response


SCHEDULE_KINDS = ScheduleKind.choices
