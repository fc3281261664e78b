"""The intake: its versions, what is on file, and the facts the eligibility rules read."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.db import DatabaseError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import User
from ketaclinic.audit.services import record
from ketaclinic.clinical.eligibility import Facts, validate_facts
from ketaclinic.measures.models import Response
from ketaclinic.patients.allergies import take_intake_answers
from ketaclinic.patients.models import Condition, Medication, Patient
from ketaclinic.screening import intake as intake_rules
from ketaclinic.screening.models import IntakeVersion

# Starts the patient's words appended to a text the staff wrote (intake link).
PATIENT_TEXT_MARK = "Added by the patient (link):"


def _now() -> datetime:
    return timezone.now()


def _name(user: User) -> str:
    return user.get_full_name() or user.username


# --- Intake ---------------------------------------------------------------------------


def latest_intake(patient: Patient) -> IntakeVersion | None:
    """Return the patient's newest intake version, or None."""
    return (
        IntakeVersion.objects.filter(clinic_id=patient.clinic_id, patient=patient)
        .order_by("-version")
        .first()
    )


def intake_versions(*, actor: Actor, patient: Patient) -> QuerySet[IntakeVersion]:
    actor.check("clinical.view")
    return IntakeVersion.objects.filter(clinic=actor.clinic, patient=patient).order_by("-version")


def conditions_on_file(patient: Patient) -> list[str]:
    """Return the condition codes of the patient's active Condition rows (for pre-filling)."""
    codes = set(
        Condition.objects.filter(
            clinic_id=patient.clinic_id, patient=patient, is_active=True
        ).values_list("code", flat=True)
    )
    return [c for c in intake_rules.DIAGNOSES if c in codes]


def medication_classes_on_file(patient: Patient) -> list[str]:
    """Return the docs/clinical-sources.md §2 (The facts screening reads) classes of the patient's active Medication rows (for pre-filling)."""
    classes = set(
        Medication.objects.filter(clinic_id=patient.clinic_id, patient=patient, is_active=True)
        .exclude(med_class="other")
        .values_list("med_class", flat=True)
    )
    return [c for c in intake_rules.MEDICATION_CLASSES if c in classes]


def _append_version(
    *,
    patient: Patient,
    data: dict[str, Any],
    source: str,
    user: User | None,
    patient_added: dict[str, list[str]] | None = None,
) -> IntakeVersion:
    # Lock the patient row so two saves cannot take the same version number.
    Patient.objects.select_for_update().filter(pk=patient.pk).values_list("pk").first()
    current = latest_intake(patient)
    # The risk's assessment time moves only when the risk itself changes: a form that
    # re-saves the pre-filled old answer must not make it newer than a later C-SSRS.
    now = _now()
    risk = data.get("suicide_risk")
    if risk is None:
        assessed_at = None
    elif current is not None and current.data.get("suicide_risk") == risk:
        assessed_at = current.suicide_risk_assessed_at or current.created_at
    else:
        assessed_at = now
    take_intake_answers(
        patient=patient,
        data=data,
        on=timezone.localtime(now, patient.clinic.tz).date(),
        staff=source == IntakeVersion.Source.STAFF,
    )
    return IntakeVersion.objects.create(
        clinic_id=patient.clinic_id,
        patient=patient,
        version=(current.version + 1) if current else 1,
        source=source,
        data=data,
        created_by=user,
        created_at=now,
        suicide_risk_assessed_at=assessed_at,
        patient_added=patient_added or {},
    )


def save_intake(*, actor: Actor, patient: Patient, data: dict[str, Any]) -> IntakeVersion:
    """Validate and store the intake as a new version; ValidationError names the field."""
    actor.check("clinical.edit")
    cleaned = intake_rules.clean_intake(data)
    with transaction.atomic():
        version = _append_version(
            patient=patient, data=cleaned, source=IntakeVersion.Source.STAFF, user=actor.user
        )
        record(
            actor,
            "create",
            patient_id=patient.pk,
            obj=version,
            detail={"version": version.version, "fields": sorted(cleaned)},
        )
    return version


def _measures_query(build: Any) -> Any:
    """Run a display-only read on the measures app's responses, or return None without it.

    For baseline scores shown on the consultation page only: never for a fact a
    screening decides on (see _latest_cssrs, which fails closed).
    """
    try:
        with transaction.atomic():
            return build(Response)
    except DatabaseError:
        return None


def _latest_cssrs(patient: Patient) -> tuple[str, datetime] | None:
    """Return (severity, taken_at) of the latest C-SSRS screen by when it was taken, or None.

    A database error propagates: a screening must not silently fall back to an older
    risk when the newer one could not be read.
    """
    found = (
        Response.objects.filter(
            clinic_id=patient.clinic_id, patient_id=patient.pk, instrument="cssrs_screen"
        )
        .exclude(severity="")
        .order_by("-taken_at", "-pk")
        .values_list("severity", "taken_at")
        .first()
    )
    return (found[0], found[1]) if found else None


def intake_facts(
    patient: Patient, *, on: date | None = None
) -> tuple[dict[str, Any], IntakeVersion | None]:
    """Return (raw docs/clinical-sources.md §2 (The facts screening reads) facts, the intake version they came from) for `patient` on `on`.

    Age is computed from the birth date on `on` (default: today in the clinic). The
    suicide risk is the most recent assessment by when it was assessed: the intake's
    (its `suicide_risk_assessed_at`, not the version's save time) or the latest C-SSRS
    screen, whichever is newer.
    """
    on = on or patient.clinic.today()
    current = latest_intake(patient)
    data = current.data if current else {}
    facts = intake_rules.raw_facts(data, birth_date=patient.birth_date, on=on)
    cssrs = superseding_cssrs(patient, current)
    if cssrs is not None:
        facts["suicide_risk"] = cssrs[0]
    return facts, current


def superseding_cssrs(
    patient: Patient, current: IntakeVersion | None
) -> tuple[str, datetime] | None:
    """Return the latest C-SSRS screen when it is newer than the intake's risk, else None."""
    cssrs = _latest_cssrs(patient)
    if cssrs is None or cssrs[0] not in intake_rules.SUICIDE_RISK_LEVELS:
        return None
    if current is None or "suicide_risk" not in current.data:
        return cssrs
    assessed_at = current.suicide_risk_assessed_at or current.created_at
    return cssrs if cssrs[1] >= assessed_at else None


def facts_for(patient: Patient, *, on: date | None = None) -> Facts:
    """Return the validated Facts the patient's current intake states (unknowns stay None)."""
    return validate_facts(intake_facts(patient, on=on)[0])


def _merge_patient_answers(
    staff: dict[str, Any], answers: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Return (the staff's data with the patient's cleaned answers added, what was added).

    The patient adds, never removes: a history flag or medication class the staff
    recorded stays even when the patient's "I have gone through the whole list" leaves
    it unticked (a contraindication must not vanish because a patient missed it), the
    staff's trials keep their adequacy judgement, and staff text is kept with the
    patient's words appended. The patient never judges a dose adequate: their trials
    are stored with `adequate_dose` false until a clinician ticks it, so they do not
    count towards `failed_adequate_trials`.
    """
    merged = dict(staff)
    added: dict[str, list[str]] = {}
    for asked, field in (("history_asked", "history"), ("medications_asked", "medications")):
        if not answers.get(asked):
            continue  # an unconfirmed checklist says nothing: keep what staff recorded
        before = list(staff.get(field, [])) if staff.get(asked) else []
        new = [code for code in answers.get(field) or [] if code not in before]
        merged[asked], merged[field] = True, before + new
        if new:
            added[field] = new
    if answers.get("trials_asked"):
        before = list(staff.get("trials", [])) if staff.get("trials_asked") else []
        known = {t["drug"].casefold() for t in before}
        new_trials = []
        for trial in answers.get("trials", []):
            if trial["drug"].casefold() in known:
                continue  # already recorded by staff, with the clinician's judgement
            new_trials.append({**trial, "adequate_dose": False})
            known.add(trial["drug"].casefold())
        merged["trials_asked"], merged["trials"] = True, before + new_trials
        if new_trials:
            added["trials"] = [t["drug"] for t in new_trials]
    for field in intake_rules.TEXT_FIELDS:
        text, kept = answers.get(field, ""), staff.get(field, "")
        if not text or text == kept:
            continue
        combined = f"{kept}\n\n{PATIENT_TEXT_MARK} {text}" if kept else text
        if len(combined) > intake_rules.MAX_TEXT:
            combined = combined[: intake_rules.MAX_TEXT - 1] + "…"
        merged[field] = combined
        added.setdefault("text", []).append(field)
    return merged, added
