"""Template tags for the measures parts of other pages, each with a fixed number of queries."""

from __future__ import annotations

import re
from typing import Any

from django import template
from django.db.models import Case, Max, Value, When
from django.utils import timezone

from ketaclinic.measures import services
from ketaclinic.measures.models import (
    Alert,
    AlertStatus,
    QuestionnaireLink,
    Response,
    Schedule,
    ScheduleKind,
)
from ketaclinic.measures.registry import instruments, patient_may_fill

register = template.Library()

SEVERITY_LEVELS = {
    # How a severity code reads as a badge level (colour + word; the label is the word).
    "minimal": "ok",
    "none": "ok",
    "normal": "ok",
    "mild": "info",
    "low": "info",
    "moderate": "caution",
    "moderately_severe": "high",
    "severe": "high",
    "high": "urgent",
    "very_severe": "high",
}


_ABBREVIATION = re.compile(r"\(([^()]+)\)\s*$")


@register.filter
def short_title(title: str) -> str:
    """The abbreviation in a title's closing parentheses ("... (PHQ-9)" -> "PHQ-9")."""
    match = _ABBREVIATION.search(title or "")
    return match.group(1) if match else title


@register.filter
def instrument_names(codes: list[str]) -> str:
    """Instrument codes as their short names ("phq9, gad7" -> "PHQ-9, GAD-7")."""
    loaded = instruments()
    return ", ".join(short_title(loaded[c].title) if c in loaded else c for c in codes)


@register.filter
def alert_name(code: str) -> str:
    """An alert code as words ("suicidality_unanswered" -> "Suicidality unanswered")."""
    return (code or "").replace("_", " ").capitalize()


@register.filter
def severity_level(code: str) -> str:
    """The badge level class for a severity or risk code ("caution" for unknown codes)."""
    return SEVERITY_LEVELS.get(code or "", "info")


@register.simple_tag(takes_context=True)
def open_alert_count(context: dict[str, Any]) -> int:
    """Open alerts in the current clinic (one query), for the nav link."""
    membership = context.get("membership")
    if membership is None:
        return 0
    return Alert.objects.filter(clinic_id=membership.clinic_id, status=AlertStatus.OPEN).count()


@register.simple_tag
def patient_open_alerts(patient: Any) -> list[Alert]:
    """The patient's open alerts, most urgent first (one query, cached on the patient)."""
    cached = getattr(patient, "_open_measure_alerts", None)
    if cached is None:
        cached = list(
            Alert.objects.filter(
                clinic_id=patient.clinic_id, patient=patient, status=AlertStatus.OPEN
            ).order_by(Case(When(level="urgent", then=Value(0)), default=Value(1)), "opened_at")
        )
        patient._open_measure_alerts = cached
    return cached


@register.inclusion_tag("measures/_section.html", takes_context=True)
def measures_chart_section(context: dict[str, Any], patient: Any) -> dict[str, Any]:
    """The chart's measures section: latest per instrument, outcomes, charts, links, schedules."""
    allowed = context.get("allowed", frozenset())
    loaded = instruments()
    out: dict[str, Any] = {
        "patient": patient,
        "allowed": allowed,
        "csrf_token": context.get("csrf_token"),
        "self_report": sorted(
            (i for i in loaded.values() if patient_may_fill(i)), key=lambda i: i.title
        ),
        "kinds": ScheduleKind.choices,
        "now": timezone.now(),
        "link_hours": services.link_hours(),
        "schedules": list(
            Schedule.objects.filter(
                clinic_id=patient.clinic_id, patient=patient, is_active=True
            ).order_by("pk")
        )
        if "measures.send" in allowed
        else [],
        "links": list(
            QuestionnaireLink.objects.filter(clinic_id=patient.clinic_id, patient=patient).order_by(
                "-created_at"
            )[:5]
        )
        if "measures.send" in allowed
        else [],
    }
    if "clinical.view" not in allowed:
        return out
    scoped = Response.objects.filter(clinic_id=patient.clinic_id, patient=patient)
    # Latest response per instrument in one query: the rows whose time is their
    # instrument's newest (ties on the same instant keep the highest id).
    newest = scoped.values("instrument").annotate(at=Max("taken_at"))
    latest: dict[str, Response] = {}
    candidates = scoped.filter(taken_at__in=newest.values("at")).order_by(
        "instrument", "-taken_at", "-pk"
    )
    for r in candidates:
        latest.setdefault(r.instrument, r)
    started = services.first_treatment_at(patient)
    series = {
        s.instrument.code: s for s in services.series_for(services.totals_for(patient), started)
    }
    rows = []
    for code, response in sorted(
        latest.items(), key=lambda kv: loaded[kv[0]].title if kv[0] in loaded else kv[0]
    ):
        definition = loaded.get(code)
        s = series.get(code)
        cutoff = definition.scoring.cutoff if definition else None
        rows.append(
            {
                "code": code,
                "title": definition.title if definition else code,
                "response": response,
                "summary": s.summary if s else None,
                "chart": bool(s and s.points),
                "cutoff": cutoff.value if cutoff else None,
            }
        )
    out.update(
        rows=rows,
        instruments=sorted(loaded.values(), key=lambda i: i.title),
        open_alerts=patient_open_alerts(patient),
        first_treatment=started,
        late_baseline=any(
            r["summary"] is not None and not r["summary"].baseline_before_treatment for r in rows
        ),
        has_cutoff=any(r["chart"] and r["cutoff"] is not None for r in rows),
    )
    # The chart view has already audited this read ("view", chart).
    return out
