"""A patient's outcomes: score series per instrument, totals, time since the first treatment."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ketaclinic.accounts.access import Actor
from ketaclinic.clinical.instruments import Instrument
from ketaclinic.clinical.outcomes import OutcomeSummary, summarize
from ketaclinic.measures import hooks
from ketaclinic.measures.models import Response
from ketaclinic.measures.registry import has_total
from ketaclinic.patients.models import Patient

from .responses import view_measures

# --------------------------------------------------------------------------- outcomes


def first_treatment_at(patient: Patient) -> datetime | None:
    """When the patient's first dose was given, or None (then the baseline is the first score).

    The baseline is the last score before the first treatment session (docs/clinical-sources.md §6.1 (Scores and change)).
    This is the one place that decides it; outcomes and charts both ask here. Sessions
    belong to a higher app, which answers through measures/hooks.py.
    """
    times = treatment_times(patient)
    return times[0] if times else None


def treatment_times(patient: Patient) -> list[datetime]:
    """When each of the patient's treatment doses started, oldest first (one query; for charts)."""
    return hooks.dose_times(patient.clinic_id, patient.pk)


@dataclass(frozen=True)
class InstrumentSeries:
    """One instrument's totals for a patient, oldest first, and its outcome summary."""

    instrument: Instrument
    points: list[tuple[datetime, int]]
    summary: OutcomeSummary | None


def series_for(
    points: Sequence[tuple[str, datetime, int]], started: datetime | None
) -> list[InstrumentSeries]:
    """Group (instrument, taken_at, total) rows into per-instrument series with summaries.

    `started` is the patient's first_treatment_at (None before any treatment).
    """
    from ketaclinic.measures.registry import instruments

    loaded = instruments()
    grouped: dict[str, list[tuple[datetime, int]]] = {}
    for code, at, total in points:
        grouped.setdefault(code, []).append((at, total))
    result = []
    for code in sorted(grouped):
        definition = loaded.get(code)
        if definition is None or not has_total(definition):
            continue
        low, high = definition.score_range()
        series = sorted(
            ((at, total) for at, total in grouped[code] if low <= total <= high), key=lambda p: p[0]
        )
        summary = summarize(definition, series, started) if series else None
        result.append(InstrumentSeries(definition, series, summary))
    return result


def totals_for(patient: Patient, instrument: str | None = None) -> list[tuple[str, datetime, int]]:
    """Every scored total of the patient (of one instrument if named), in one query."""
    responses = Response.objects.filter(
        clinic_id=patient.clinic_id, patient=patient, total__isnull=False
    )
    if instrument is not None:
        responses = responses.filter(instrument=instrument)
    rows = responses.order_by("taken_at", "pk").values_list("instrument", "taken_at", "total")
    return [(code, at, total) for code, at, total in rows if total is not None]


def outcomes_for(*, actor: Actor, patient: Patient) -> list[dict[str, Any]]:
    """Baseline, latest, change, response and remission per instrument, as the API answers."""
    actor.check("clinical.view")
    rows = []
    for s in series_for(totals_for(patient), first_treatment_at(patient)):
        if s.summary is None:
            continue
        rows.append(
            {
                "instrument": s.instrument.code,
                "baseline": s.summary.baseline.total,
                "baseline_before_treatment": s.summary.baseline_before_treatment,
                "latest": s.summary.latest.total,
                "change": s.summary.change,
                "percent_change": s.summary.percent_change,
                "response": s.summary.response,
                "remission": s.summary.remission,
                "count": s.summary.count,
            }
        )
    view_measures(actor=actor, patient=patient, what="outcomes")
    return rows
