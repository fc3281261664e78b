"""Published outcomes: a de-identified snapshot an admin reviews and publishes.

What a snapshot may hold (docs/clinical-sources.md §9 (Privacy)-§10 (Changes since the first wave)): aggregates only; periods in whole months;
no free text (drop-out reasons are counted, never quoted); no group defined by a rare
attribute (protocol families with fewer than 11 treated patients are merged into
"Other treatments"); every table passes `clinical.disclosure.suppress_table` (counts of
1-10 withheld, with complements so none can be worked out from the totals); a rate only
where `publishable_rate` allows it; medians only over 11 or more patients.
"""

from __future__ import annotations

import calendar
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Clinic
from ketaclinic.audit.services import record
from ketaclinic.clinical.disclosure import (
    MIN_RATE_DENOMINATOR,
    SUPPRESSED_TEXT,
    publishable_rate,
    suppress_table,
)
from ketaclinic.outcomes import services
from ketaclinic.outcomes.models import Publication

TABLES = {
    "outcomes": "Response and remission by treatment",
    "dropouts": "Courses stopped early",
    "safety": "Adverse events by type and severity",
}
OTHER_LABEL = "Other treatments"
# Instruments with a response or remission rule are published; pain NRS has neither.
PUBLISHED_INSTRUMENTS = ("phq9", "qids_sr16", "madrs", "gad7", "pcl5")


def parse_month(raw: str | None, field: str) -> date | None:
    """'YYYY-MM' -> the first day of that month (None for empty), or ValidationError."""
    if raw is None or str(raw).strip() == "":
        return None
    text = str(raw).strip()
    try:
        year, month = (int(part) for part in text.split("-"))
        first = date(year, month, 1)
    except ValueError:
        raise ValidationError({field: "Enter a month as YYYY-MM."}) from None
    if not services.YEARS[0] <= year <= services.YEARS[1]:
        raise ValidationError({field: "Enter a month between 1900 and 2200."})
    return first


def parse_tables(raw: list[str] | None) -> list[str]:
    if raw is None or raw == []:
        return list(TABLES)
    unknown = [t for t in raw if t not in TABLES]
    if unknown or isinstance(raw, str):
        raise ValidationError({"tables": f"Choose from {', '.join(TABLES)}."})
    return [t for t in TABLES if t in raw]


def _month_end(first: date) -> date:
    return first.replace(day=calendar.monthrange(first.year, first.month)[1])


def _cell(value: int | None) -> dict[str, Any]:
    if value is None:
        return {"value": None, "suppressed": True, "text": SUPPRESSED_TEXT}
    return {"value": value, "suppressed": False, "text": str(value)}


def _table(
    *,
    code: str,
    title: str,
    row_heading: str,
    columns: list[str],
    rows: list[tuple[str, list[int]]],
    rate_label: str | None = None,
    notes: list[str] | None = None,
) -> dict[str, Any]:
    """Suppress a table of counts; a rate (first column / row total) where publishable."""
    if not rows:
        rows = [(OTHER_LABEL, [0] * len(columns))]
    table = suppress_table([cells for _, cells in rows])
    out_rows = []
    labels = [label for label, _ in rows] + ["All"]
    for index, (label, values, hidden) in enumerate(
        zip(labels, table.values, table.withheld, strict=True)
    ):
        rate = None
        if rate_label:
            rate = publishable_rate(
                values[0],
                values[-1],
                numerator_withheld=hidden[0],
                denominator_withheld=hidden[-1],
            )
        out_rows.append(
            {
                "label": label,
                "cells": [_cell(None if h else v) for v, h in zip(values, hidden, strict=True)],
                "rate": rate,
                "is_total": index == len(rows),
            }
        )
    return {
        "code": code,
        "title": title,
        "row_heading": row_heading,
        "columns": [*columns, "Total"],
        "rate_label": rate_label,
        "rows": out_rows,
        "notes": notes or [],
    }


def _family_rows(
    groups: list[dict[str, Any]], fields: tuple[str, str]
) -> list[tuple[str, list[int]]]:
    """(label, [a, b]) per protocol family; families with under 11 patients become one row."""
    rows: list[tuple[str, list[int]]] = []
    other = [0, 0]
    has_other = False
    for g in groups:
        if g["key"] == services.NO_COURSE:
            continue
        a, b = g[fields[0]], g[fields[1]]
        if g["patients"] < MIN_RATE_DENOMINATOR:
            other = [other[0] + a, other[1] + b]
            has_other = True
        else:
            rows.append((g["label"], [a, b]))
    if has_other:
        rows.append((OTHER_LABEL, other))
    return rows


def _outcome_tables(clinic: Clinic, base: services.Filters) -> list[dict[str, Any]]:
    tables = []
    for code in PUBLISHED_INSTRUMENTS:
        filters = services.Filters(
            instrument=code,
            group_by="protocol",
            date_from=base.date_from,
            date_to=base.date_to,
            with_course_only=True,
        )
        result = services.summary(clinic, filters)
        name = result["instrument_label"]
        for g in result["groups"]:
            g["not_responded"] = g["response_evaluable"] - g["responders"]
            g["not_remitted"] = g["remission_evaluable"] - g["remitters"]
        total = result["total"]
        medians = []
        if total["with_followup"] >= MIN_RATE_DENOMINATOR and total["median_change"] is not None:
            medians.append(
                f"Median change in the {name} score from baseline to the latest score: "
                f"{total['median_change']:g} points (lower is better)."
            )
        curve = result["curve"]
        if curve.n >= MIN_RATE_DENOMINATOR and curve.median is not None:
            medians.append(
                f"Half of the patients had responded by day {curve.median:g} after their first "
                "dose (Kaplan-Meier estimate; patients still in treatment counted until their "
                "latest questionnaire)."
            )
        if result["has_response_rule"] and total["response_evaluable"]:
            tables.append(
                _table(
                    code=f"response_{code}",
                    title=f"{name}: response (at least 50 % lower than at baseline)",
                    row_heading="Treatment",
                    columns=["Responded", "Did not respond"],
                    rows=_family_rows(result["groups"], ("responders", "not_responded")),
                    rate_label="Response rate",
                    notes=medians,
                )
            )
            medians = []
        if result["has_remission_rule"] and total["remission_evaluable"]:
            tables.append(
                _table(
                    code=f"remission_{code}",
                    title=f"{name}: remission (latest score in the no-symptoms range)",
                    row_heading="Treatment",
                    columns=["In remission", "Not in remission"],
                    rows=_family_rows(result["groups"], ("remitters", "not_remitted")),
                    rate_label="Remission rate",
                    notes=medians,
                )
            )
    return tables


def _dropout_table(clinic: Clinic, base: services.Filters) -> dict[str, Any]:
    filters = services.Filters(
        group_by="protocol",
        date_from=base.date_from,
        date_to=base.date_to,
        with_course_only=True,
    )
    result = services.summary(clinic, filters)
    for g in result["groups"]:
        g["kept_on"] = g["treated"] - g["dropouts"]
    return _table(
        code="dropouts",
        title=TABLES["dropouts"],
        row_heading="Treatment",
        columns=["Stopped early", "Completed or continuing"],
        rows=_family_rows(result["groups"], ("dropouts", "kept_on")),
        rate_label="Share stopped early",
        notes=[
            "A first course counts as stopped early when it ended, or had no treatment for "
            "30 days, before its planned induction sessions were all given. Reasons are not "
            "published: they are free text."
        ],
    )


def _safety_table(clinic: Clinic, base: services.Filters) -> dict[str, Any]:
    figures = services.safety(clinic, base)
    ae = figures["adverse_events"]
    rows = [
        (r["label"], [r["by_severity"][s["code"]] for s in ae["severities"]]) for r in ae["rows"]
    ]
    table = _table(
        code="safety",
        title=TABLES["safety"],
        row_heading="Adverse event",
        columns=[s["label"] for s in ae["severities"]],
        rows=rows,
    )
    sessions = figures["sessions"]
    total_cell = table["rows"][-1]["cells"][-1]
    note = f"Treatment sessions in the period: {_cell(sessions if sessions > 10 or sessions == 0 else None)['text']}."
    if sessions >= MIN_RATE_DENOMINATOR and not total_cell["suppressed"]:
        note += f" Adverse events per 100 sessions: {ae['total'] * 100 / sessions:.1f}."
    table["notes"] = [note]
    return table


def build_snapshot(
    clinic: Clinic, *, from_month: date | None, to_month: date | None, tables: list[str]
) -> dict[str, Any]:
    """The de-identified snapshot of these months and tables (nothing finer than a month)."""
    today = clinic.today()
    if from_month and to_month and to_month < from_month:
        raise ValidationError({"to": "The last month is before the first."})
    base = services.Filters(
        date_from=from_month,
        date_to=_month_end(to_month) if to_month else None,
        with_course_only=True,
    )
    built: list[dict[str, Any]] = []
    if "outcomes" in tables:
        built.extend(_outcome_tables(clinic, base))
    if "dropouts" in tables:
        built.append(_dropout_table(clinic, base))
    if "safety" in tables:
        built.append(_safety_table(clinic, base))
    return {
        "clinic": {"name": clinic.name, "slug": clinic.slug},
        "period": {
            "from": from_month.strftime("%Y-%m") if from_month else None,
            "to": (to_month or today.replace(day=1)).strftime("%Y-%m"),
        },
        "published": today.strftime("%Y-%m"),
        "tables": built,
    }


@transaction.atomic
def publish(
    *,
    actor: Actor,
    from_month: date | None = None,
    to_month: date | None = None,
    tables: list[str] | None = None,
) -> Publication:
    """Publish a snapshot of the actor's clinic (default: all time, every table)."""
    actor.check("outcomes.publish")
    chosen = parse_tables(tables)
    snapshot = build_snapshot(actor.clinic, from_month=from_month, to_month=to_month, tables=chosen)
    publication = Publication.objects.create(
        clinic=actor.clinic,
        published_by=actor.user,
        published_at=timezone.now(),
        from_month=from_month,
        to_month=to_month,
        tables=chosen,
        snapshot=snapshot,
    )
    record(
        actor,
        "publish",
        obj=publication,
        detail={
            "tables": chosen,
            "from": snapshot["period"]["from"],
            "to": snapshot["period"]["to"],
        },
    )
    return publication


def latest_for(slug: str) -> Publication | None:
    """The clinic's latest published snapshot, or None (the public's only view)."""
    if "\x00" in slug:  # no slug holds one, and PostgreSQL refuses it in a query
        return None
    return (
        Publication.objects.filter(clinic__slug=slug)
        .select_related("clinic")
        .order_by("-published_at", "-pk")
        .first()
    )


def public_snapshot(publication: Publication) -> dict[str, Any]:
    """What the public API answers: the stored snapshot, exactly as reviewed."""
    return dict(publication.snapshot)
