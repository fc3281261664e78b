"""A source of a resource type, and the builders that turn its rows into resources."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db.models import Model, Q, QuerySet

from ketaclinic.accounts.models import Clinic
from ketaclinic.interop import resources as r
from ketaclinic.interop import terminology as term
from ketaclinic.measures.models import Response
from ketaclinic.measures.registry import instruments
from ketaclinic.treatment.models import Observation as SessionObservation

Resource = dict[str, Any]


@dataclass
class Context:
    """What a mapping needs besides the row: the clinic, its today, the instruments."""

    clinic: Clinic
    today: date
    instruments: dict[str, Any] = field(default_factory=instruments)


@dataclass(frozen=True)
class Source:
    """One model read for one resource type, and how its rows become resources."""

    model: type[Model]
    clinic: str  # lookup from the model to its clinic
    build: Callable[[Any, Context], list[Resource]]
    patient: str | None = None  # lookup to the patient id, for `patient=` and $export
    when: str | None = None  # the date `date=` searches and results are ordered by
    updated: str | None = None  # when the row last changed (_lastUpdated, _since)
    related: tuple[str, ...] = ()
    where: Q = field(default_factory=Q)
    id_field: str = "pk"  # the column a resource id names (Practitioner: the user)
    # The columns the builder reads, for the largest tables: named tuples instead of
    # model instances make a bulk export about twice as fast (bench/fhir_export.py).
    fields: tuple[str, ...] = ()
    # `id` of a resource -> the row's pk, for reads; None = the id is the pk.
    id_pattern: re.Pattern[str] | None = None
    # Observation only: the categories and codes this source can produce, to skip it
    # when a search asks for others, and to narrow its rows by code in SQL.
    categories: frozenset[str] = frozenset()
    narrow: Callable[[QuerySet[Any], set[str]], QuerySet[Any]] | None = None

    def rows(self, clinic: Clinic) -> QuerySet[Any]:
        qs = self.model._default_manager.filter(Q(**{self.clinic: clinic.pk}) & self.where)
        if self.fields:
            return qs.values_list(*self.fields, named=True)
        return qs.select_related(*self.related) if self.related else qs

    def pk_for(self, resource_id: str) -> int | None:
        if self.id_pattern is None:
            return int(resource_id) if resource_id.isdigit() and len(resource_id) < 19 else None
        found = self.id_pattern.fullmatch(resource_id)
        return int(found.group(1)) if found else None


# --- Builders (row, context) -> resources ---------------------------------------------------


def _one(mapper: Callable[[Any], Resource]) -> Callable[[Any, Context], list[Resource]]:
    return lambda row, ctx: [mapper(row)]


READING_FIELDS = (
    "pk", "taken_at", "recorded_at", "systolic", "diastolic", "heart_rate", "spo2",
    "respiratory_rate", "temperature_c", "session__patient_id", "session__appointment_id",
)  # fmt: skip
RESPONSE_FIELDS = (
    "pk", "patient_id", "instrument", "version", "answers", "total", "severity",
    "severity_label", "taken_at", "created_at", "source", "entered_by_id",
)  # fmt: skip

APPOINTMENT_FIELDS = (
    "pk", "clinic_id", "patient_id", "kind", "status", "start", "end", "room_id", "created_at",
    "updated_at", "staff__user_id", "treatment_session__started_at",
    "treatment_session__discharged_at",
)  # fmt: skip
SESSION_FIELDS = (
    "pk", "patient_id", "appointment_id", "room_id", "drug", "route", "state", "started_at",
    "started_by_id", "dose_started_at", "dose_ended_at", "updated_at",
)  # fmt: skip
ADMINISTRATION_FIELDS = (
    "pk", "session_id", "drug", "product", "lot_number", "route", "dose_mg", "total_given_mg",
    "rate_ml_per_h", "recorded_by_id", "recorded_at", "ledger_lot__product__ndc",
    "session__state", "session__patient_id", "session__appointment_id",
    "session__dose_started_at", "session__dose_ended_at",
)  # fmt: skip


def _reading(row: Any, ctx: Context) -> list[Resource]:
    return r.reading_observations(
        row, patient_id=row.session__patient_id, encounter_id=row.session__appointment_id
    )


def _session_obs(row: SessionObservation, ctx: Context) -> list[Resource]:
    session = row.session
    return [
        r.session_observation(
            row, patient_id=session.patient_id, encounter_id=session.appointment_id
        )
    ]


def _scores(row: Response, ctx: Context) -> list[Resource]:
    return r.score_observations(row, _instrument(row, ctx))


def _instrument(row: Response, ctx: Context) -> Any:
    found = ctx.instruments.get(row.instrument)
    # Only the definition version that scored the response describes its answers.
    return found if found is not None and found.version == row.version else None


def _questionnaire_response(row: Response, ctx: Context) -> list[Resource]:
    return [r.questionnaire_response(row, _instrument(row, ctx))]


def _vital_codes() -> dict[str, str]:
    """LOINC code -> VitalReading field that must be present to produce it."""
    found = {term.BP_PANEL[0]: "systolic"}
    for _suffix, fieldname, key in r.READING_VITALS:
        vital = term.VITALS[key]
        found[vital.loinc] = fieldname
        for also, _display in vital.also:
            found[also] = fieldname
    return found


def _narrow_readings(qs: QuerySet[Any], codes: set[str]) -> QuerySet[Any]:
    wanted = {f for code, f in _vital_codes().items() if code in codes}
    if not wanted:
        return qs.none()
    condition = Q()
    for name in wanted:
        condition |= Q(**{f"{name}__isnull": False})
    return qs.filter(condition)


def _score_codes() -> dict[str, str]:
    """LOINC (or local) code of a score Observation -> instrument code."""
    found: dict[str, str] = {}
    for code, inst in instruments().items():
        for value in (inst.loinc.total, inst.loinc.risk_level):
            if value:
                found[value] = code
        found[f"{code}-total"] = code
        if code == "phq9" and inst.items[8].loinc:
            found[inst.items[8].loinc] = code
    return found


def _narrow_scores(qs: QuerySet[Any], codes: set[str]) -> QuerySet[Any]:
    wanted = {inst for code, inst in _score_codes().items() if code in codes}
    return qs.filter(instrument__in=wanted) if wanted else qs.none()


def _narrow_session_obs(qs: QuerySet[Any], codes: set[str]) -> QuerySet[Any]:
    return qs.filter(kind__in=codes & set(term.LOCAL_OBSERVATIONS))


def _narrow_body(qs: QuerySet[Any], codes: set[str]) -> QuerySet[Any]:
    condition = Q(pk__in=[])
    if term.VITALS["weight_kg"].loinc in codes:
        condition |= Q(weight_kg__isnull=False, weight_measured_on__isnull=False)
    if term.VITALS["height_cm"].loinc in codes:
        condition |= Q(height_cm__isnull=False, height_measured_on__isnull=False)
    return qs.filter(condition)
