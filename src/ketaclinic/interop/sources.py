"""Which rows of the record become which FHIR resources: the whitelist, and how to find them.

`TYPES` is the only list of what the FHIR API and the bulk export can read. Each
resource type names its sources (a model, the path from it to its clinic and patient,
its date field) and the search parameters it answers. A model that is not named here
is never read, so a new kind of private data (psychotherapy notes, a journal) stays
out of every FHIR answer until it is mapped on purpose; tests/interop checks the list.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from itertools import chain
from typing import Any

from django.db.models import Model, Q, QuerySet

from ketaclinic.accounts.models import Clinic, Membership
from ketaclinic.accounts.roles import STAFF_ROLES
from ketaclinic.audit.models import AuditEvent
from ketaclinic.interop import resources as r
from ketaclinic.interop import terminology as term
from ketaclinic.interop.params import DateRange, SearchError, parse_date, reference_id, tokens
from ketaclinic.measures.models import Response
from ketaclinic.measures.registry import instruments
from ketaclinic.patients.models import Allergy, Condition, Medication, Patient
from ketaclinic.scheduling.models import Appointment, Room
from ketaclinic.screening.models import Consent, clinic_today
from ketaclinic.treatment.models import (
    Administration,
    AdverseEvent,
    TreatmentSession,
    VitalReading,
)
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


# --- The whitelist ---------------------------------------------------------------------------

ENCOUNTER_STATES = ("checked_in", "in_progress", "completed")


@dataclass(frozen=True)
class ResourceType:
    """A FHIR resource type we serve: its sources, the action that may read it, its searches."""

    name: str
    action: str
    sources: tuple[Source, ...]
    # search parameter -> lookup on the row (dates: a date field; "token" searches
    # below are handled by name). `patient` is implied by the source's patient path.
    dates: dict[str, str] = field(default_factory=dict)
    params: frozenset[str] = frozenset()
    includes: frozenset[str] = frozenset()
    us_core: str | None = None

    @property
    def patient_linked(self) -> bool:
        return all(s.patient for s in self.sources)


VITAL_ID = re.compile(r"vital-(\d{1,18})-(?:bp|hr|spo2|rr|temp)")
BODY_ID = re.compile(r"body-(\d{1,18})-(?:weight|height)")
SCORE_ID = re.compile(r"score-(\d{1,18})(?:-item9)?")
SESSION_OBS_ID = re.compile(r"session-(\d{1,18})")

TYPES: dict[str, ResourceType] = {
    t.name: t
    for t in (
        ResourceType(
            "Patient",
            "patient.view",
            (
                Source(
                    Patient, "clinic", _one(r.patient), patient="pk",
                    updated="updated_at",
                ),
            ),
            params=frozenset({"identifier", "name", "family", "given", "birthdate", "gender"}),
            dates={"birthdate": "birth_date"},
            us_core="us-core-patient",
        ),
        ResourceType(
            "Condition",
            "clinical.view",
            (
                Source(
                    Condition, "clinic", _one(r.condition), patient="patient_id",
                    when="recorded_at", updated="recorded_at",
                ),
            ),
            params=frozenset({"category", "clinical-status", "code"}),
            dates={"onset-date": "onset", "recorded-date": "recorded_at"},
            includes=frozenset({"Condition:patient", "Condition:subject"}),
        ),
        ResourceType(
            "AllergyIntolerance",
            "clinical.view",
            (
                Source(
                    Allergy, "clinic", _one(r.allergy), patient="patient_id",
                    when="recorded_at", updated="recorded_at",
                ),
            ),
            params=frozenset({"clinical-status"}),
            includes=frozenset({"AllergyIntolerance:patient"}),
        ),
        ResourceType(
            "MedicationStatement",
            "clinical.view",
            (
                Source(
                    Medication, "clinic", _one(r.medication_statement), patient="patient_id",
                    when="recorded_at", updated="recorded_at",
                ),
            ),
            params=frozenset({"status"}),
            includes=frozenset({"MedicationStatement:patient", "MedicationStatement:subject"}),
        ),
        ResourceType(
            "Observation",
            "clinical.view",
            (
                Source(
                    VitalReading, "session__clinic", _reading, patient="session__patient_id",
                    when="taken_at", updated="recorded_at", fields=READING_FIELDS,
                    id_pattern=VITAL_ID, categories=frozenset({"vital-signs"}),
                    narrow=_narrow_readings,
                ),
                Source(
                    Patient, "clinic", lambda row, ctx: r.body_observations(row),
                    patient="pk", when="weight_measured_on", updated="updated_at",
                    id_pattern=BODY_ID, categories=frozenset({"vital-signs"}),
                    where=Q(weight_measured_on__isnull=False) | Q(height_measured_on__isnull=False),
                    narrow=_narrow_body,
                ),
                Source(
                    Response, "clinic", _scores, patient="patient_id", when="taken_at",
                    updated="created_at", id_pattern=SCORE_ID, fields=RESPONSE_FIELDS,
                    categories=frozenset({"survey"}), narrow=_narrow_scores,
                ),
                Source(
                    SessionObservation, "session__clinic", _session_obs,
                    patient="session__patient_id", when="taken_at", related=("session",),
                    updated="taken_at",  # never edited once recorded (amendments are separate)
                    where=Q(kind__in=tuple(term.LOCAL_OBSERVATIONS)),
                    id_pattern=SESSION_OBS_ID, categories=frozenset({"exam"}),
                    narrow=_narrow_session_obs,
                ),
            ),
            params=frozenset({"category", "code"}),
            dates={"date": "*"},
            includes=frozenset({"Observation:patient", "Observation:subject"}),
        ),
        ResourceType(
            "QuestionnaireResponse",
            "clinical.view",
            (
                Source(
                    Response, "clinic", _questionnaire_response, patient="patient_id",
                    when="taken_at", updated="created_at", fields=RESPONSE_FIELDS,
                ),
            ),
            params=frozenset({"questionnaire"}),
            dates={"authored": "taken_at"},
            includes=frozenset(
                {"QuestionnaireResponse:patient", "QuestionnaireResponse:questionnaire"}
            ),
        ),
        ResourceType(
            "Encounter",
            "clinical.view",
            (
                Source(
                    Appointment, "clinic", _one(r.encounter), patient="patient_id",
                    when="start", updated="updated_at", fields=APPOINTMENT_FIELDS,
                    where=Q(status__in=ENCOUNTER_STATES),
                ),
            ),
            dates={"date": "start"},
            params=frozenset({"status"}),
            includes=frozenset({"Encounter:patient", "Encounter:subject"}),
        ),
        ResourceType(
            "Procedure",
            "clinical.view",
            (
                Source(
                    TreatmentSession, "clinic", _one(r.procedure), patient="patient_id",
                    when="started_at", updated="updated_at", fields=SESSION_FIELDS,
                ),
            ),
            dates={"date": "started_at"},
            includes=frozenset({"Procedure:patient", "Procedure:subject"}),
        ),
        ResourceType(
            "MedicationAdministration",
            "clinical.view",
            (
                Source(
                    Administration, "session__clinic", _one(r.medication_administration),
                    patient="session__patient_id", when="recorded_at", updated="recorded_at",
                    fields=ADMINISTRATION_FIELDS,
                ),
            ),
            dates={"effective-time": "recorded_at"},
            includes=frozenset({"MedicationAdministration:patient"}),
        ),
        ResourceType(
            "AdverseEvent",
            "clinical.view",
            (
                Source(
                    AdverseEvent, "session__clinic", _one(r.adverse_event),
                    patient="session__patient_id", when="onset_at", updated="recorded_at",
                    related=("session",),
                ),
            ),
            dates={"date": "onset_at"},
            includes=frozenset({"AdverseEvent:subject"}),
        ),
        ResourceType(
            "Consent",
            "clinical.view",
            (
                Source(
                    Consent, "clinic", lambda row, ctx: [r.consent(row, ctx.today)],
                    patient="patient_id", when="signed_at", updated="signed_at",
                ),
            ),
            dates={"date": "signed_at"},
            includes=frozenset({"Consent:patient"}),
        ),
        ResourceType(
            "Appointment",
            "schedule.view",
            (
                Source(
                    Appointment, "clinic", _one(r.appointment), patient="patient_id",
                    when="start", updated="updated_at", fields=APPOINTMENT_FIELDS,
                ),
            ),
            dates={"date": "start"},
            params=frozenset({"status"}),
            includes=frozenset({"Appointment:patient"}),
        ),
        ResourceType(
            "Practitioner",
            "schedule.view",
            (
                Source(
                    Membership, "clinic", _one(r.practitioner), related=("user",),
                    where=Q(role__in=[role.value for role in STAFF_ROLES]),
                    updated="created_at", id_field="user_id",
                ),
            ),
        ),
        ResourceType(
            "Organization",
            "schedule.view",
            (Source(Clinic, "pk", _one(r.organization), updated="created_at"),),
        ),
        ResourceType(
            "Location",
            "schedule.view",
            (Source(Room, "clinic", _one(r.location)),),
        ),
        ResourceType(
            "AuditEvent",
            "audit.view",
            (
                Source(
                    AuditEvent, "clinic", _one(r.audit_event), when="at", updated="at",
                    patient="patient_id",
                ),
            ),
            dates={"date": "at"},
        ),
    )
}  # fmt: skip

# Questionnaires come from the instrument definitions, not from rows.
QUESTIONNAIRE_ACTION = "instruments.view"

COMMON_PARAMS = frozenset({"_id", "_count", "_offset", "_lastUpdated", "_include", "_format"})


def allowed_params(kind: ResourceType) -> frozenset[str]:
    found = COMMON_PARAMS | kind.params | set(kind.dates)
    if any(s.patient for s in kind.sources) and kind.name != "Patient":
        found |= {"patient", "subject"}
    return frozenset(found)


# --- Reading and searching ------------------------------------------------------------------


def read(
    kind: ResourceType, clinic: Clinic, resource_id: str, hidden: frozenset[int] = frozenset()
) -> Resource | None:
    """The resource with this id in the clinic, or None (another clinic's id is None too).

    `hidden`: restricted charts the caller may not open (patients/restricted.py).
    """
    ctx = Context(clinic, clinic_today(clinic))
    for source in kind.sources:
        pk = source.pk_for(resource_id)
        if pk is None:
            continue
        rows = source.rows(clinic)
        if hidden and source.patient:
            rows = rows.exclude(**{f"{source.patient}__in": hidden})
        row = rows.filter(**{source.id_field: pk}).first()
        if row is None:
            continue
        for resource in source.build(row, ctx):
            if resource["id"] == resource_id:
                return resource
    return None


@dataclass
class Search:
    """A parsed search: which rows, which resources among them, and the page."""

    kind: ResourceType
    clinic: Clinic
    patient_id: int | None = None
    ids: list[str] | None = None
    dates: list[tuple[str, DateRange]] = field(default_factory=list)
    updated: list[DateRange] = field(default_factory=list)
    since: datetime | None = None
    codes: list[tuple[str | None, str]] | None = None
    categories: list[tuple[str | None, str]] | None = None
    filters: list[tuple[str, str]] = field(default_factory=list)
    count: int = 50
    offset: int = 0
    includes: list[str] = field(default_factory=list)
    patient_ids: list[int] | None = None  # a group export: these patients only
    hidden: frozenset[int] = frozenset()  # restricted charts the caller may not open


MAX_COUNT = 500


def parse_search(kind: ResourceType, clinic: Clinic, query: dict[str, list[str]]) -> Search:
    """The search `query` asks for, or SearchError naming the parameter it cannot answer.

    Unknown parameters are refused rather than ignored: a misspelt `patient` must not
    return every patient's records.
    """
    search = Search(kind, clinic)
    tz = clinic.tz
    allowed = allowed_params(kind)
    for name, values in query.items():
        base = name.split(":", 1)[0]
        if base not in allowed or (":" in name and base != "_include"):
            raise SearchError(f"{name}: this server does not support that parameter on {kind.name}")
        for value in values:
            if value == "" and base != "_format":
                raise SearchError(f"{name}: an empty value")
            if "\x00" in value:
                raise SearchError(f"{name}: a value may not contain a NUL character")
            _apply(search, base, value, tz)
    return search


def _apply(search: Search, name: str, value: str, tz: Any) -> None:
    kind = search.kind
    if name in ("patient", "subject"):
        found = reference_id(name, value, "Patient")
        if search.patient_id not in (None, found):
            search.ids = []  # two different patients: nothing matches both
        search.patient_id = found
    elif name == "_id":
        search.ids = [v for v in value.split(",") if v]
    elif name == "_count":
        if not value.isdigit():
            raise SearchError(f"_count: {value!r} is not a whole number")
        search.count = min(int(value), MAX_COUNT)
    elif name == "_offset":
        if not value.isdigit() or len(value) > 9:
            raise SearchError(f"_offset: {value!r} is not a whole number")
        search.offset = int(value)
    elif name == "_lastUpdated":
        search.updated.append(parse_date(name, value, tz))
    elif name == "_include":
        if value not in kind.includes:
            raise SearchError(f"_include: {value!r} is not supported on {kind.name}")
        search.includes.append(value)
    elif name == "_format":
        if value not in ("json", "application/json", "application/fhir+json"):
            raise SearchError(f"_format: only JSON is served ({value!r} asked)")
    elif name in kind.dates:
        search.dates.append((name, parse_date(name, value, tz)))
    elif name == "code":
        search.codes = (search.codes or []) + tokens(value)
    elif name == "category":
        search.categories = (search.categories or []) + tokens(value)
    else:
        search.filters.append((name, value))


def _row_filter(search: Search, source: Source) -> QuerySet[Any] | None:
    """The source's rows for this search, or None when the source cannot match it."""
    qs = source.rows(search.clinic)
    if search.hidden and source.patient:
        qs = qs.exclude(**{f"{source.patient}__in": search.hidden})
    kind = search.kind
    if search.patient_id is not None:
        if not source.patient:
            return None
        qs = qs.filter(**{source.patient: search.patient_id})
    if search.patient_ids is not None:
        if not source.patient:
            return None
        qs = qs.filter(**{f"{source.patient}__in": search.patient_ids})
    if search.ids is not None:
        pks = {source.pk_for(i) for i in search.ids} - {None}
        if not pks:
            return None
        qs = qs.filter(**{f"{source.id_field}__in": pks})
    for name, rng in search.dates:
        column: str | None = kind.dates[name]
        if column == "*" and source.model is Patient:
            continue  # body measures carry two dates: checked on each built resource
        column = source.when if column == "*" else column
        if column is None:
            return None
        field_type = source.model._meta.get_field(column.split("__")[0]).get_internal_type()
        qs = qs.filter(
            rng.q_date(column, search.clinic.tz) if field_type == "DateField" else rng.q(column)
        )
    for rng in search.updated:
        if source.updated is None:
            return None
        qs = qs.filter(rng.q(source.updated))
    if search.since is not None:
        if source.updated is None:
            return None
        qs = qs.filter(**{f"{source.updated}__gte": search.since})
    if search.categories is not None:
        wanted = {code for _system, code in search.categories}
        if kind.name == "Observation" and not (wanted & source.categories):
            return None
    if search.codes is not None and source.narrow is not None:
        qs = source.narrow(qs, {code for _system, code in search.codes})
    for name, value in search.filters:
        qs = _token_filter(kind.name, name, value, qs)
    return qs


# Simple token searches mapped onto columns (our value -> FHIR code).
def _token_filter(kind: str, name: str, value: str, qs: QuerySet[Any]) -> QuerySet[Any]:
    codes = {code for _system, code in tokens(value)}
    if name == "clinical-status":
        active = {c in ("active", "recurrence", "relapse") for c in codes}
        return qs.filter(is_active__in=active)
    if name == "status" and kind == "MedicationStatement":
        return qs.filter(is_active__in={c == "active" for c in codes if c in ("active", "stopped")})
    if name == "status" and kind in ("Appointment", "Encounter"):
        table = r.APPOINTMENT_STATUS if kind == "Appointment" else r.ENCOUNTER_STATUS
        return qs.filter(status__in=[ours for ours, theirs in table.items() if theirs in codes])
    if name == "identifier":
        return qs.filter(mrn__in=codes)
    if name == "gender":
        return qs.filter(sex_at_birth__in=[o for o, g in r.GENDER.items() if g in codes])
    if name in ("name", "family", "given"):
        from ketaclinic.patients.models import search_key

        key = search_key(value)
        if name == "family":
            return qs.filter(family_key__startswith=key)
        if name == "given":
            return qs.filter(given_key__startswith=key)
        return qs.filter(Q(family_key__startswith=key) | Q(given_key__startswith=key))
    if name == "questionnaire":
        wanted = {v.split("|")[0].rstrip("/").split("/")[-1] for v in value.split(",")}
        pairs = [w.rsplit("-", 1) for w in wanted if "-" in w]
        condition = Q(pk__in=[])
        for code, version in pairs:
            if version.isdigit():
                condition |= Q(instrument=code.replace("-", "_"), version=int(version))
        return qs.filter(condition)
    if name == "category" or name == "code":
        return qs  # checked on the built resource
    raise SearchError(f"{name}: not supported on {kind}")


def _sort_key(resource: Resource, source: Source, row: Any) -> tuple[str, str]:
    when = getattr(row, source.when) if source.when else None
    if isinstance(when, datetime):
        text = r.instant(when) or ""
    elif isinstance(when, date):
        text = when.isoformat()
    else:
        text = ""
    return (text, resource["id"])


def _wanted(search: Search, resource: Resource) -> bool:
    """Checks no SQL filter could: codes and categories of built resources, body dates."""
    if search.ids is not None and resource["id"] not in search.ids:
        return False
    if search.codes is not None:
        codings = resource.get("code", {}).get("coding", [])
        if not any(
            c.get("code") == code and (system is None or c.get("system") == system)
            for system, code in search.codes
            for c in codings
        ):
            return False
    if search.categories is not None:
        categories = [c for cat in resource.get("category", []) for c in cat.get("coding", [])]
        if not any(
            c.get("code") == code and (system is None or c.get("system") == system)
            for system, code in search.categories
            for c in categories
        ):
            return False
    if search.kind.name == "Observation":
        effective = resource.get("effectiveDateTime", "")
        for _name, rng in search.dates:
            if len(effective) == 10:  # a date (body measures): the clinic's midnight
                when = datetime.combine(date.fromisoformat(effective), time.min, search.clinic.tz)
            else:
                when = datetime.fromisoformat(effective)
            if not rng.contains(when):
                return False
    return True


# Rows fetched per round trip: what an export holds in memory at once, whatever its size.
CHUNK_ROWS = 500


def _checks_resources(search: Search) -> bool:
    """True when built resources must be checked one by one (see _wanted)."""
    return bool(
        search.ids is not None
        or search.codes is not None
        or search.categories is not None
        or (search.kind.name == "Observation" and search.dates)
    )


def _stream(
    search: Search, source: Source, qs: QuerySet[Any], *, ordered: bool
) -> Iterator[tuple[tuple[str, str], Resource]]:
    """(sort key, resource) for every match of one source; unordered, the key is empty."""
    ctx = Context(search.clinic, clinic_today(search.clinic))
    check = _checks_resources(search)
    if ordered and source.model is Patient and source.when == "weight_measured_on":
        # Body measures carry two dates; few enough per clinic to sort after building.
        built = [
            (_sort_key_effective(res), res)
            for row in qs.order_by("pk").iterator(chunk_size=500)
            for res in source.build(row, ctx)
            if not check or _wanted(search, res)
        ]
        yield from sorted(built, key=lambda pair: pair[0])
        return
    order = [source.when, "pk"] if ordered and source.when else ["pk"]
    unordered = ("", "")
    for row in qs.order_by(*order).iterator(chunk_size=CHUNK_ROWS):
        for resource in source.build(row, ctx):
            if check and not _wanted(search, resource):
                continue
            yield (_sort_key(resource, source, row) if ordered else unordered), resource


def _sort_key_effective(resource: Resource) -> tuple[str, str]:
    return (resource.get("effectiveDateTime", ""), resource["id"])


def matches(search: Search, *, ordered: bool = True) -> Iterator[Resource]:
    """Every matching resource, merged across the type's sources.

    Searches list results by date then id (stable pages); an export takes each
    source's rows in primary-key order instead, which costs no sort.
    """
    streams = []
    for source in search.kind.sources:
        qs = _row_filter(search, source)
        if qs is not None:
            streams.append(_stream(search, source, qs, ordered=ordered))
    merged = heapq.merge(*streams, key=lambda pair: pair[0]) if ordered else chain(*streams)
    for _key, resource in merged:
        yield resource


def page(search: Search) -> tuple[list[Resource], bool]:
    """One page of results, and whether there is a next one (`_count=0`: none, and no next)."""
    if search.count == 0:
        return [], False
    found: list[Resource] = []
    for index, resource in enumerate(matches(search)):
        if index < search.offset:
            continue
        if len(found) == search.count:
            return found, True
        found.append(resource)
    return found, False


def patient_ids_of(resources: Iterable[Resource]) -> list[int]:
    """The patients these resources are about, in first-seen order."""
    seen: dict[int, None] = {}
    for resource in resources:
        pid = patient_of(resource)
        if pid is not None:
            seen.setdefault(pid, None)
    return list(seen)


def patient_of(resource: Resource) -> int | None:
    if resource["resourceType"] == "Patient":
        return int(resource["id"])
    for key in ("subject", "patient"):
        reference = resource.get(key, {}).get("reference", "")
        if reference.startswith("Patient/"):
            return int(reference.removeprefix("Patient/"))
    if resource["resourceType"] == "Appointment":
        for participant in resource["participant"]:
            reference = participant["actor"].get("reference", "")
            if reference.startswith("Patient/"):
                return int(reference.removeprefix("Patient/"))
    if resource["resourceType"] == "AuditEvent":
        for entity in resource.get("entity", []):
            reference = entity.get("what", {}).get("reference", "")
            if reference.startswith("Patient/"):
                return int(reference.removeprefix("Patient/"))
    return None


def questionnaires() -> list[Resource]:
    return [r.questionnaire(inst) for inst in instruments().values()]


def questionnaire(resource_id: str) -> Resource | None:
    for inst in instruments().values():
        if r.questionnaire_id(inst) == resource_id:
            return r.questionnaire(inst)
    return None
