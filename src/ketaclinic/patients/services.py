"""Writes to the patient record; each owns its transaction and writes its audit event."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from ketaclinic.accounts.access import Actor, audit_read
from ketaclinic.accounts.errors import StaleVersion
from ketaclinic.audit.services import record
from ketaclinic.patients.changes import patient_changed
from ketaclinic.patients.models import (
    Allergy,
    Condition,
    Medication,
    MrnCounter,
    Patient,
    search_key,
)

PATIENT_FIELDS = (
    "mrn given_name family_name preferred_name birth_date sex_at_birth gender_identity pronouns "
    "email phone address emergency_contact_name emergency_contact_phone "
    "emergency_contact_relationship escort_name escort_phone weight_kg weight_measured_on "
    "height_cm height_measured_on status"
).split()


AUTOMATIC_MRN = re.compile(r"^MRN(\d{6,})$")
MRN_NUMBER_MAX = 10**18  # fits the counter's 64-bit column
DATE_FIELDS = ("birth_date", "weight_measured_on", "height_measured_on")


def automatic_number(mrn: str) -> int | None:
    """The counter number that gives exactly `mrn` (MRN000123 -> 123), else None."""
    match = AUTOMATIC_MRN.match(mrn)
    if match is None:
        return None
    number = int(match.group(1))
    # Beyond the counter's column the counter never gets there, so nothing can collide.
    return number if f"MRN{number:06d}" == mrn and number <= MRN_NUMBER_MAX else None


def _highest_automatic(clinic_id: int) -> int:
    """The highest automatic-form MRN number in use: a scan, run only to (re)build a counter."""
    taken = Patient.objects.filter(clinic_id=clinic_id, mrn__startswith="MRN").values_list(
        "mrn", flat=True
    )
    return max((n for mrn in taken if (n := automatic_number(mrn)) is not None), default=0)


def _counter(clinic_id: int) -> QuerySet[MrnCounter]:
    """The clinic's counter row, created on first use from the MRNs already given."""
    MrnCounter.objects.get_or_create(
        clinic_id=clinic_id, defaults={"last_number": _highest_automatic(clinic_id)}
    )
    return MrnCounter.objects.filter(clinic_id=clinic_id)


def _next_mrn(clinic_id: int) -> str:
    """Take the clinic's next automatic MRN; call inside the registering transaction.

    The increment locks the counter row until the transaction ends, so registrations at
    the same moment each get their own number: O(1), never a read of every MRN.
    """
    counter = MrnCounter.objects.filter(clinic_id=clinic_id)
    if not counter.update(last_number=F("last_number") + 1):
        counter = _counter(clinic_id)
        counter.update(last_number=F("last_number") + 1)
    return f"MRN{counter.values_list('last_number', flat=True).get():06d}"


def _step_past(clinic_id: int, mrn: str) -> None:
    """Move the counter past a hand-entered MRN of the automatic form, so none repeats it."""
    number = automatic_number(mrn)
    if number is not None:
        _counter(clinic_id).filter(last_number__lt=number).update(last_number=number)


def _resync_counter(clinic_id: int) -> None:
    """After a collision (a row written around the counter): start past every MRN in use."""
    _step_past(clinic_id, f"MRN{_highest_automatic(clinic_id):06d}")


def _apply(patient: Patient, data: dict[str, Any], clinic_today: date) -> list[str]:
    unknown = set(data) - set(PATIENT_FIELDS)
    if unknown:
        raise ValidationError({name: "Unknown field." for name in sorted(unknown)})
    future = [name for name in DATE_FIELDS if data.get(name) and data[name] > clinic_today]
    if future:
        raise ValidationError({name: "Must not be in the future." for name in future})
    changed = []
    for name, value in data.items():
        if getattr(patient, name) != value:
            setattr(patient, name, value)
            changed.append(name)
    today = clinic_today
    if "weight_kg" in changed and "weight_measured_on" not in data and patient.weight_kg:
        patient.weight_measured_on = today
    if "height_cm" in changed and "height_measured_on" not in data and patient.height_cm:
        patient.height_measured_on = today
    return changed


def create_patient(*, actor: Actor, data: dict[str, Any]) -> Patient:
    """Register a patient in the actor's clinic; assigns the next MRN when none is given."""
    actor.check("patient.create")
    patient = Patient(clinic=actor.clinic)
    _apply(patient, data, actor.clinic.today())
    automatic = not data.get("mrn")
    patient.full_clean(
        exclude=["mrn"] if automatic else None, validate_unique=False, validate_constraints=False
    )
    for _attempt in range(2):
        try:
            with transaction.atomic():
                if automatic:
                    patient.mrn = _next_mrn(actor.clinic.pk)
                else:
                    _step_past(actor.clinic.pk, patient.mrn)
                patient.save(force_insert=True)
                record(actor, "create", patient_id=patient.pk, obj=patient)
                patient_changed(patient.pk)
                return patient
        except IntegrityError:
            patient.pk = None
            if not automatic:
                break
            _resync_counter(actor.clinic.pk)
    raise ValidationError({"mrn": "This MRN is already in use in this clinic."})


def update_patient(
    *, actor: Actor, patient: Patient, data: dict[str, Any], expected_version: int | None = None
) -> Patient:
    """Apply changes; refuses with StaleVersion when someone saved in between."""
    actor.check("patient.edit")
    if expected_version is not None and expected_version != patient.version:
        raise StaleVersion
    changed = _apply(patient, data, actor.clinic.today())
    if not changed:
        # Nothing to write, but the whole record goes back: that is a read.
        view_patient(actor=actor, patient=patient, what="update without changes")
        return patient
    patient.full_clean(validate_unique=False, validate_constraints=False)
    fields = {*changed, "family_key", "given_key", "weight_measured_on", "height_measured_on"}
    patient.family_key = search_key(patient.family_name)
    patient.given_key = search_key(patient.given_name)
    try:
        with transaction.atomic():
            # Compare-and-set on the version: a concurrent save makes this update zero rows.
            updated = Patient.objects.filter(pk=patient.pk, version=patient.version).update(
                version=F("version") + 1,
                updated_at=timezone.now(),
                **{name: getattr(patient, name) for name in fields},
            )
            if updated == 0:
                raise StaleVersion
            if "mrn" in changed:
                _step_past(actor.clinic.pk, patient.mrn)
            record(
                actor,
                "update",
                patient_id=patient.pk,
                obj=patient,
                detail={"fields": sorted(changed)},
            )
    except IntegrityError:
        raise ValidationError({"mrn": "This MRN is already in use in this clinic."}) from None
    patient.refresh_from_db()
    return patient


def view_patient(*, actor: Actor, patient: Patient, what: str = "chart") -> None:
    """Record that the actor read this patient's record (already fetched for another use;
    a page that fetches to show asks `get_patient_for(..., read=what)` instead)."""
    audit_read(actor, patient, patient_id=patient.pk, view=what)


DATE_PATTERNS = (
    (re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"), (1, 2, 3)),
    (re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$"), (3, 1, 2)),
)


def _as_date(text: str) -> date | None:
    for pattern, (y, m, d) in DATE_PATTERNS:
        match = pattern.match(text)
        if match:
            try:
                return date(int(match[y]), int(match[m]), int(match[d]))
            except ValueError:
                return None
    return None


def _prefix(field: str, prefix: str) -> Q:
    # PostgreSQL uses LIKE 'x%' with a pattern-ops index; SQLite compares a range on
    # the plain index (keys are lower-case ASCII, so '{' sorts after every key letter).
    if connection.vendor == "postgresql":
        return Q(**{f"{field}__startswith": prefix})
    return Q(**{f"{field}__gte": prefix, f"{field}__lt": prefix + "\x7f"})


def search_patients(*, actor: Actor, query: str) -> QuerySet[Patient]:
    """Patients of the actor's clinic matching a name, MRN or birth date, by name."""
    actor.check("patient.view")
    patients = Patient.objects.for_clinic(actor.clinic)
    # No name holds a NUL, and PostgreSQL refuses one in a query parameter.
    text = query.replace("\x00", "").strip()
    if not text:
        return patients.order_by("family_key", "given_key", "pk")
    if "\x00" in text:
        # No stored name or MRN holds a NUL byte, and PostgreSQL refuses one in a query.
        return patients.none()
    born = _as_date(text)
    if born:
        match = Q(birth_date=born)
    elif any(ch.isdigit() for ch in text):
        return patients.filter(_prefix("mrn", text.upper())).order_by("mrn")
    else:
        if "," in text:
            family, _, given = text.partition(",")
            tokens = [search_key(family), search_key(given)]
        else:
            tokens = search_key(text).split(" ")
        tokens = [t for t in tokens if t]
        if not tokens:
            return patients.none()
        if len(tokens) == 1:
            match = _prefix("family_key", tokens[0]) | _prefix("given_key", tokens[0])
        else:
            first, last = tokens[0], " ".join(tokens[1:])
            if "," in text:
                match = _prefix("family_key", first) & _prefix("given_key", last)
            else:
                match = (_prefix("given_key", first) & _prefix("family_key", last)) | (
                    _prefix("family_key", first) & _prefix("given_key", last)
                )
    return patients.filter(match).order_by("family_key", "given_key", "pk")


def record_search(*, actor: Actor, patient_ids: list[int]) -> None:
    """Audit a search: which patients' names were shown (never the query text)."""
    record(actor, "search", object_type="patients.patient", detail={"shown": patient_ids})


ChartEntry = Condition | Medication | Allergy


@transaction.atomic
def add_chart_entry(
    *, actor: Actor, patient: Patient, model: type[ChartEntry], data: dict[str, Any]
) -> ChartEntry:
    """Add a condition, medication or allergy to the patient's record."""
    actor.check("clinical.edit")
    entry = model(clinic=patient.clinic, patient=patient, **data)
    entry.full_clean()
    entry.save()
    if model is Allergy:
        from ketaclinic.patients.allergies import allergy_added

        allergy_added(patient)
    record(actor, "create", patient_id=patient.pk, obj=entry)
    patient_changed(patient.pk)
    return entry


@transaction.atomic
def stop_chart_entry(*, actor: Actor, entry: ChartEntry) -> None:
    """Mark a condition, medication or allergy inactive (history is kept)."""
    actor.check("clinical.edit")
    type(entry).objects.filter(pk=entry.pk).update(is_active=False)
    record(actor, "deactivate", patient_id=entry.patient_id, obj=entry)
    patient_changed(entry.patient_id)
