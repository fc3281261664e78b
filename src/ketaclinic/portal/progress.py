"""The patient's own scores in plain language: change, response and remission explained.

The numbers come from the measures app's outcome summary (clinical/outcomes.py), whose
response and remission rules are the instruments' data files (docs/clinical-sources.md);
nothing here sets a threshold of its own.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django.utils.safestring import mark_safe

from ketaclinic.measures.charts import trend_svg
from ketaclinic.measures.services.outcomes import (
    first_treatment_at,
    series_for,
    totals_for,
    treatment_times,
)
from ketaclinic.patients.models import Patient


def _sentence(title: str, first: int, last: int) -> str:
    if first == last:
        return f"{title} is {last}, the same as at the start."
    if first > 0:
        percent = round(abs(first - last) * 100 / first)
        word = "improvement" if last < first else "increase (a higher score means more symptoms)"
        return f"{title} went from {first} to {last} — that is a {percent} % {word}."
    return f"{title} went from {first} to {last}."


def short_name(title: str) -> str:
    """ "Patient Health Questionnaire (PHQ-9)" -> "PHQ-9"; a title without brackets as is."""
    if title.endswith(")") and "(" in title:
        return title.rsplit("(", 1)[1][:-1]
    return title


def _rule_text(summary: Any, definition: Any) -> tuple[str, str]:
    """(response, remission) explanations from the instrument's own outcome rules."""
    outcomes = definition.outcomes
    response = ""
    percent = outcomes.response.min_reduction_percent if outcomes.response else None
    if percent:
        response = (
            f"A “response” means the score fell by at least {percent} % from where it started."
        )
    remission = ""
    if summary is not None and summary.remission_rule:
        remission = f"“Remission” means a score of {summary.remission_rule}: few or no symptoms."
    return response, remission


def progress_for(patient: Patient) -> list[dict[str, Any]]:
    """One panel per instrument: sentence, chart (SVG), data table, response/remission."""
    tz = patient.clinic.tz
    totals = totals_for(patient)
    started = first_treatment_at(patient)
    treatments = treatment_times(patient) if totals else []
    panels = []
    for series in series_for(totals, started):
        if not series.points:
            continue
        definition, summary = series.instrument, series.summary
        first, last = series.points[0][1], series.points[-1][1]
        response_text, remission_text = _rule_text(summary, definition)
        status = []
        if summary is not None and summary.response:
            status.append("You have reached a response.")
        if summary is not None and summary.remission:
            status.append("Your latest score is in the remission range.")
        panels.append(
            {
                "code": definition.code,
                "title": definition.title,
                "sentence": _sentence(short_name(definition.title), first, last)
                if len(series.points) > 1
                else f"Your first {short_name(definition.title)} score is {last}.",
                "chart": mark_safe(trend_svg(definition, series.points, tz, treatments)),  # noqa: S308 - built by measures/charts.py, every text escaped there
                "rows": [
                    {"at": timezone.localtime(at, tz), "total": total}
                    for at, total in series.points
                ],
                "response_text": response_text,
                "remission_text": remission_text,
                "status": status,
            }
        )
    return panels
