"""The measures section of the patient chart: read here, called by the chart view.

Registered with patients/chart.py in MeasuresConfig.ready; the template tag
`measures_chart_section` only lays the result out. A fixed number of queries whatever
the history; no audit event (the chart view audited the read of the chart).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Case, Max, Value, When
from django.utils import timezone

from ketaclinic.accounts.access import Actor
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
from ketaclinic.patients.models import Patient


def open_alert_count(clinic_id: int) -> int:
    """Open alerts in the clinic (one query), for the nav link on every page."""
    return Alert.objects.filter(clinic_id=clinic_id, status=AlertStatus.OPEN).count()


def open_alerts(patient: Patient) -> list[Alert]:
    """The patient's open alerts, most urgent first (one query, cached on the patient)."""
    cached: list[Alert] | None = getattr(patient, "_open_measure_alerts", None)
    if cached is None:
        cached = list(
            Alert.objects.filter(
                clinic_id=patient.clinic_id, patient=patient, status=AlertStatus.OPEN
            ).order_by(Case(When(level="urgent", then=Value(0)), default=Value(1)), "opened_at")
        )
        patient.__dict__["_open_measure_alerts"] = cached  # for this request's patient
    return cached


def chart_section(actor: Actor, patient: Patient, allowed: frozenset[str]) -> dict[str, Any] | None:
    """Latest score per instrument, outcomes, charts, links and schedules, as this role sees them."""
    if "clinical.view" not in allowed and "measures.send" not in allowed:
        return None
    loaded = instruments()
    out: dict[str, Any] = {
        "patient": patient,
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
    rows: list[dict[str, Any]] = []
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
        open_alerts=open_alerts(patient),
        first_treatment=started,
        late_baseline=any(
            r["summary"] is not None and not r["summary"].baseline_before_treatment for r in rows
        ),
        has_cutoff=any(r["chart"] and r["cutoff"] is not None for r in rows),
    )
    return out
