"""Outcome pages: the dashboard, the patients behind a number, CSV, publishing, the public page."""

from __future__ import annotations

import csv
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from ketaclinic.accounts.access import ClinicRequest, require
from ketaclinic.audit.services import record
from ketaclinic.outcomes import publication, services
from ketaclinic.outcomes.charts import km_svg
from ketaclinic.outcomes.models import InstrumentOutcome, Publication
from ketaclinic.treatment.models import AdverseEvent

PAGE_SIZE = 100


def _filters(request: HttpRequest) -> tuple[services.Filters, dict[str, str], dict[str, str]]:
    """The filters asked for (defaults where invalid), the typed values, and errors by field."""
    typed = {
        name: request.GET.get(name, "")[:40] for name in ("instrument", "group_by", "from", "to")
    }
    try:
        filters = services.parse_filters(
            instrument=typed["instrument"],
            group_by=typed["group_by"],
            date_from=typed["from"],
            date_to=typed["to"],
        )
        return filters, typed, {}
    except ValidationError as exc:
        errors = {field: " ".join(msgs) for field, msgs in exc.message_dict.items()}
        kept = {k: v for k, v in typed.items() if k not in errors}
        try:
            filters = services.parse_filters(
                instrument=kept.get("instrument"),
                group_by=kept.get("group_by"),
                date_from=kept.get("from"),
                date_to=kept.get("to") if "from" not in errors else None,
            )
        except ValidationError:
            filters = services.Filters()
        return filters, typed, errors


@require("outcomes.view")
def dashboard(request: ClinicRequest) -> HttpResponse:
    actor = request.actor
    filters, typed, errors = _filters(request)
    result = services.summary(actor.clinic, filters)
    title = f"Time to first {result['instrument_label']} response"
    return render(
        request,
        "outcomes/dashboard.html",
        {
            "filters": filters,
            "query": filters.as_query(),
            "typed": typed,
            "errors": errors,
            "result": result,
            "chart": km_svg(result["curve"], title=title),
            "chart_title": title,
            "safety": services.safety(actor.clinic, filters),
            "reasons": services.dropout_reasons(actor.clinic, filters),
            "instruments": [(code, services.SHORT_NAMES[code]) for code in services.INSTRUMENTS],
            "groupings": services.GROUPINGS,
            "group_label": services.GROUPINGS[filters.group_by],
            "may_publish": actor.may("outcomes.publish"),
        },
    )


MEASURE_LABELS = {
    "patients": "Patients",
    "treated": "Patients treated",
    "with_baseline": "Patients with a baseline",
    "with_followup": "Patients with a baseline and a follow-up",
    "responders": "Responders",
    "remitters": "In remission",
    "dropouts": "Drop-outs",
    **services.SAFETY_FIGURES,
}


@require("outcomes.view")
def patients(request: ClinicRequest) -> HttpResponse:
    """The patients behind one dashboard number; the list shown is audited."""
    actor = request.actor
    filters, _typed, errors = _filters(request)
    measure = request.GET.get("measure", "")
    if errors or measure not in MEASURE_LABELS:
        raise Http404("Unknown figure.")
    # PostgreSQL refuses NUL in text; a group key never holds one.
    key = request.GET.get("key", "")[:60].replace("\x00", "") or None
    ae_type = request.GET.get("type") or None
    severity = request.GET.get("severity") or None
    if ae_type not in (None, *AdverseEvent.Type.values) or severity not in (
        None,
        *AdverseEvent.Severity.values,
    ):
        raise Http404("Unknown adverse event type or severity.")
    found = services.patients_behind(
        actor.clinic, filters, measure=measure, key=key, ae_type=ae_type, severity=severity
    )
    page = Paginator(found, PAGE_SIZE).get_page(request.GET.get("page"))
    shown = list(page.object_list)
    query = {**filters.as_query(), "measure": measure}
    for name, value in (("key", key), ("type", ae_type), ("severity", severity)):
        if value:
            query[name] = value
    services.record_drilldown(
        actor=actor, measure=measure, patient_ids=[p.pk for p in shown], query=query
    )
    scores: dict[int, Any] = {}
    if measure in ("with_baseline", "with_followup", "responders", "remitters"):
        # The scores behind the figure, for the patients on this page (one query).
        scores = {
            row.patient_id: row
            for row in InstrumentOutcome.objects.filter(
                clinic=actor.clinic, instrument=filters.instrument, patient__in=shown
            )
        }
    what = MEASURE_LABELS[measure]
    if measure in services.OUTCOME_MEASURES:
        context_label = ""
        if key and key != "all":
            labels = services.group_labels(filters.group_by, [key])
            context_label = f"{services.GROUPINGS[filters.group_by]}: {labels.get(key, key)}"
        if measure not in ("patients", "treated", "dropouts"):
            what = f"{what} ({services.SHORT_NAMES[filters.instrument]})"
    else:
        types = dict(AdverseEvent.Type.choices)
        severities = dict(AdverseEvent.Severity.choices)
        context_label = " · ".join(
            x for x in (types.get(ae_type or ""), severities.get(severity or "")) if x
        )
    return render(
        request,
        "outcomes/patients.html",
        {
            "what": what,
            "context_label": context_label,
            "page": page,
            "rows": [(p, scores.get(p.pk)) for p in shown],
            "patients": shown,
            "with_scores": bool(scores),
            "query": query,
            "back": filters.as_query(),
        },
    )


def _csv(name: str, header: list[str], rows: list[list[Any]]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    writer = csv.writer(response)
    writer.writerow(header)
    for row in rows:
        # A leading =, +, - or @ would run as a formula in a spreadsheet; labels only.
        writer.writerow(
            [f"'{v}" if isinstance(v, str) and v[:1] in ("=", "+", "-", "@") else v for v in row]
        )
    return response


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}"


EXPORTS = ("summary", "adverse_events", "operations", "dropout_reasons")


@require("outcomes.view")
def export(request: ClinicRequest, table: str) -> HttpResponse:
    """One dashboard table as CSV (aggregates only; the export is audited)."""
    actor = request.actor
    if table not in EXPORTS:
        raise Http404("Unknown table.")
    filters, _typed, errors = _filters(request)
    if errors:
        raise Http404("Invalid filters.")
    record(
        actor, "export", object_type="outcomes.table", object_id=table, detail=filters.as_query()
    )
    if table == "summary":
        result = services.summary(actor.clinic, filters)
        rows = []
        for g in [*result["groups"], result["total"]]:
            rows.append(
                [
                    g["label"],
                    g["patients"],
                    g["treated"],
                    g["with_baseline"],
                    g["with_followup"],
                    g["responders"],
                    g["response_evaluable"],
                    _pct(g["response_rate"]),
                    _pct(g["response_ci"][0]) if g["response_ci"] else "",
                    _pct(g["response_ci"][1]) if g["response_ci"] else "",
                    g["remitters"],
                    g["remission_evaluable"],
                    _pct(g["remission_rate"]),
                    _pct(g["remission_ci"][0]) if g["remission_ci"] else "",
                    _pct(g["remission_ci"][1]) if g["remission_ci"] else "",
                    "" if g["median_change"] is None else g["median_change"],
                    "" if g["median_days_to_response"] is None else g["median_days_to_response"],
                    g["dropouts"],
                ]
            )
        header = [
            services.GROUPINGS[filters.group_by],
            "patients",
            "treated",
            "with baseline",
            "with follow-up",
            "responders",
            "response evaluable",
            "response rate %",
            "response CI low %",
            "response CI high %",
            "remitters",
            "remission evaluable",
            "remission rate %",
            "remission CI low %",
            "remission CI high %",
            "median change",
            "median days to response",
            "drop-outs",
        ]
        return _csv(f"outcomes-{filters.instrument}-{filters.group_by}", header, rows)
    if table == "dropout_reasons":
        reasons = services.dropout_reasons(actor.clinic, filters)
        return _csv(
            "dropout-reasons",
            ["reason", "patients"],
            [[r["reason"], r["patients"]] for r in reasons],
        )
    figures = services.safety(actor.clinic, filters)
    if table == "adverse_events":
        ae = figures["adverse_events"]
        severities = [s["code"] for s in ae["severities"]]
        rows = [
            [r["label"], *[r["by_severity"][s] for s in severities], r["total"], r["per_100"] or ""]
            for r in ae["rows"]
        ]
        return _csv(
            "adverse-events",
            ["type", *severities, "total", "per 100 sessions"],
            rows,
        )
    return _csv("operations", ["figure", "count", "of", "rate %"], _operations_rows(figures))


def _operations_rows(f: dict[str, Any]) -> list[list[Any]]:
    return [
        ["sessions with a dose", f["sessions"], "", ""],
        ["BP excursions (sessions)", f["bp_excursions"]["sessions"], f["sessions"], _pct((f["bp_excursions"]["per_100"] or 0) / 100) if f["sessions"] else ""],
        ["discharge overrides", f["discharge_overrides"]["sessions"], f["sessions"], _pct((f["discharge_overrides"]["per_100"] or 0) / 100) if f["sessions"] else ""],
        ["REMS forms on time", f["rems_forms"]["on_time"], f["rems_forms"]["total"] - f["rems_forms"]["pending"], _pct(f["rems_forms"]["on_time_rate"])],
        ["ledger count discrepancies", f["ledger"]["discrepancies"], f["ledger"]["lines"], ""],
        ["no-shows", f["no_shows"]["no_shows"], f["no_shows"]["appointments"], _pct(f["no_shows"]["rate"])],
        ["chair minutes booked", f["chair_utilisation"]["booked_minutes"], f["chair_utilisation"]["open_minutes"], _pct(f["chair_utilisation"]["rate"])],
        ["integration sessions attended", f["integration"]["attended"], f["integration"]["booked"], _pct(f["integration"]["rate"])],
    ]  # fmt: skip


@require("outcomes.publish")
def publish(request: ClinicRequest) -> HttpResponse:
    """Review the de-identified snapshot exactly as the public will see it, then publish it."""
    actor = request.actor
    source = request.POST if request.method == "POST" else request.GET
    typed = {"from": source.get("from", "")[:20], "to": source.get("to", "")[:20]}
    chosen = [t for t in source.getlist("tables") if t in publication.TABLES] or list(
        publication.TABLES
    )
    errors: dict[str, str] = {}
    snapshot = None
    months: dict[str, Any] = {}
    for field in ("from", "to"):
        try:
            months[field] = publication.parse_month(typed[field], field)
        except ValidationError as exc:
            errors.update({f: " ".join(m) for f, m in exc.message_dict.items()})
    if not errors:
        try:
            if request.method == "POST":
                publication.publish(
                    actor=actor, from_month=months["from"], to_month=months["to"], tables=chosen
                )
                messages.success(request, "The outcomes are published.")
                return redirect("outcomes_published_clinic", slug=actor.clinic.slug)
            snapshot = publication.build_snapshot(
                actor.clinic, from_month=months["from"], to_month=months["to"], tables=chosen
            )
        except ValidationError as exc:
            errors.update({f: " ".join(m) for f, m in exc.message_dict.items()})
    latest = Publication.objects.filter(clinic=actor.clinic).order_by("-published_at").first()
    return render(
        request,
        "outcomes/publish.html",
        {
            "typed": typed,
            "errors": errors,
            "tables": publication.TABLES,
            "chosen": chosen,
            "snapshot": snapshot,
            "latest": latest,
        },
        status=422 if errors and request.method == "POST" else 200,
    )


def published(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    """The public page: the latest published snapshot of a clinic (no log-in)."""
    if slug is None:
        slugs = list(
            Publication.objects.order_by().values_list("clinic__slug", flat=True).distinct()[:2]
        )
        if len(slugs) != 1:
            clinics = (
                Publication.objects.order_by("clinic__name")
                .values_list("clinic__slug", "clinic__name")
                .distinct()
            )
            return render(request, "outcomes/published_index.html", {"clinics": list(clinics)})
        slug = slugs[0]
    found = publication.latest_for(slug[:60])
    if found is None:
        raise Http404("This clinic has published no outcomes.")
    return render(request, "outcomes/published.html", {"snapshot": found.snapshot})
