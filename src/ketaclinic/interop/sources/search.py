"""Reading one resource, and searching, streaming and paging a resource type."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from itertools import chain
from typing import Any

from django.db.models import Q, QuerySet

from ketaclinic.accounts.models import Clinic
from ketaclinic.interop import resources as r
from ketaclinic.interop.params import DateRange, SearchError, parse_date, reference_id, tokens
from ketaclinic.measures.registry import instruments
from ketaclinic.patients.models import Patient

from .builders import (
    Context,
    Resource,
    Source,
)
from .whitelist import (
    ResourceType,
    allowed_params,
)

# --- Reading and searching ------------------------------------------------------------------


def read(
    kind: ResourceType, clinic: Clinic, resource_id: str, hidden: frozenset[int] = frozenset()
) -> Resource | None:
    """The resource with this id in the clinic, or None (another clinic's id is None too).

    `hidden`: restricted charts the caller may not open (patients/restricted.py).
    """
    ctx = Context(clinic, clinic.today())
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
    ctx = Context(search.clinic, search.clinic.today())
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
