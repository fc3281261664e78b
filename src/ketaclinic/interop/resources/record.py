"""The clinic, its staff and rooms, the patient, and their problems, allergies and medications."""

from __future__ import annotations

from typing import Any

from ketaclinic.clinical.conditions import CONDITIONS
from ketaclinic.interop import terminology as t

from .base import Resource, _meta, _prune, coding, concept, day, instant, ref

# --- Administrative ------------------------------------------------------------------


def organization(clinic: Any) -> Resource:
    return _prune(
        {
            "resourceType": "Organization",
            "id": str(clinic.pk),
            "meta": _meta(clinic.created_at),
            "identifier": [{"system": f"{t.LOCAL}/clinic", "value": clinic.slug}],
            "active": True,
            "name": clinic.name,
            "telecom": [{"system": "phone", "value": clinic.phone}] if clinic.phone else [],
            "address": [{"text": clinic.address}] if clinic.address else [],
        }
    )


def practitioner(membership: Any) -> Resource:
    """A staff member; the id is the user's, so every "recorded by" points at it."""
    user = membership.user
    name = _prune({"family": user.last_name, "given": [user.first_name] if user.first_name else []})
    if "family" not in name and "given" not in name:
        name = {"text": user.username}
    return _prune(
        {
            "resourceType": "Practitioner",
            "id": str(user.pk),
            "meta": _meta(membership.created_at),
            "identifier": [{"system": f"{t.LOCAL}/staff", "value": str(user.pk)}],
            "active": membership.is_active,
            "name": [name],
        }
    )


def location(room: Any) -> Resource:
    return {
        "resourceType": "Location",
        "id": str(room.pk),
        "status": "active" if room.active else "inactive",
        "name": room.name,
        "mode": "instance",
        "type": [concept(coding(t.LOCAL_CODES, room.kind), text=room.get_kind_display())],
        "managingOrganization": ref("Organization", room.clinic_id),
    }


# --- Patient -------------------------------------------------------------------------

GENDER = {"female": "female", "male": "male", "intersex": "other", "unknown": "unknown"}
# US Core 5.0.1 birth sex: F, M or UNK; intersex has no code there, so it is not sent.
BIRTH_SEX = {"female": "F", "male": "M", "unknown": "UNK"}


def patient(row: Any) -> Resource:
    extensions: list[dict[str, Any]] = []
    if row.sex_at_birth in BIRTH_SEX:
        extensions.append(
            {"url": f"{t.US_CORE}/us-core-birthsex", "valueCode": BIRTH_SEX[row.sex_at_birth]}
        )
    if row.gender_identity:
        extensions.append(
            {
                "url": f"{t.US_CORE}/us-core-genderIdentity",
                "valueCodeableConcept": {"text": row.gender_identity},
            }
        )
    names: list[dict[str, Any]] = [
        {"use": "official", "family": row.family_name, "given": [row.given_name]}
    ]
    if row.preferred_name:
        names.append({"use": "usual", "given": [row.preferred_name]})
    telecom = []
    if row.phone:
        telecom.append({"system": "phone", "value": row.phone})
    if row.email:
        telecom.append({"system": "email", "value": row.email})
    contact = []
    if row.emergency_contact_name:
        contact.append(
            _prune(
                {
                    "relationship": [{"text": row.emergency_contact_relationship}]
                    if row.emergency_contact_relationship
                    else [],
                    "name": {"text": row.emergency_contact_name},
                    "telecom": [{"system": "phone", "value": row.emergency_contact_phone}]
                    if row.emergency_contact_phone
                    else [],
                }
            )
        )
    return _prune(
        {
            "resourceType": "Patient",
            "id": str(row.pk),
            "meta": _meta(row.updated_at, "us-core-patient"),
            "extension": extensions,
            "identifier": [
                {
                    "use": "usual",
                    "type": concept(coding(t.IDENTIFIER_TYPE, "MR", "Medical record number")),
                    "system": f"{t.LOCAL}/clinic/{row.clinic_id}/mrn",
                    "value": row.mrn,
                }
            ],
            "active": row.status != "inactive",
            "name": names,
            "telecom": telecom,
            "gender": GENDER[row.sex_at_birth],
            "birthDate": day(row.birth_date),
            "address": [{"text": row.address}] if row.address else [],
            "contact": contact,
            "managingOrganization": ref("Organization", row.clinic_id),
        }
    )


# --- Problems, allergies, medications ---------------------------------------------------


def condition(row: Any) -> Resource:
    known = CONDITIONS.get(row.code)
    codings = []
    if known is not None and known.snomed_ct:
        codings.append(coding(t.SNOMED, known.snomed_ct, known.snomed_ct_display))
    if row.icd10cm:
        codings.append(coding(t.ICD10CM, row.icd10cm))
    status = "active" if row.is_active else "inactive"
    return _prune(
        {
            "resourceType": "Condition",
            "id": str(row.pk),
            "meta": _meta(row.recorded_at),
            "clinicalStatus": concept(coding(t.CONDITION_CLINICAL, status)),
            "verificationStatus": concept(coding(t.CONDITION_VERIFICATION, "confirmed")),
            "category": [
                concept(coding(t.CONDITION_CATEGORY, "problem-list-item", "Problem List Item"))
            ],
            "code": concept(*codings, text=known.display if known else row.code),
            "subject": ref("Patient", row.patient_id),
            "onsetDateTime": day(row.onset),
            "recordedDate": instant(row.recorded_at),
            "note": [{"text": row.note}] if row.note else [],
        }
    )


ALLERGY_SEVERITY = {"mild": "mild", "moderate": "moderate", "severe": "severe"}


def allergy(row: Any) -> Resource:
    status = "active" if row.is_active else "inactive"
    reaction = _prune(
        {
            "manifestation": [{"text": row.reaction or "Reaction not recorded"}],
            "severity": ALLERGY_SEVERITY.get(row.severity),
        }
    )
    return _prune(
        {
            "resourceType": "AllergyIntolerance",
            "id": str(row.pk),
            "meta": _meta(row.recorded_at),
            "clinicalStatus": concept(coding(t.ALLERGY_CLINICAL, status)),
            "code": {"text": row.substance},
            "patient": ref("Patient", row.patient_id),
            "recordedDate": instant(row.recorded_at),
            "reaction": [reaction] if row.reaction or row.severity in ALLERGY_SEVERITY else [],
        }
    )


def medication_statement(row: Any) -> Resource:
    dosage = " ".join(part for part in (row.dose, row.frequency) if part)
    return _prune(
        {
            "resourceType": "MedicationStatement",
            "id": str(row.pk),
            "meta": _meta(row.recorded_at),
            "status": "active" if row.is_active else "stopped",
            "category": concept(
                coding(t.LOCAL_CODES, f"class-{row.med_class}"), text=row.get_med_class_display()
            ),
            "medicationCodeableConcept": {"text": row.name},
            "subject": ref("Patient", row.patient_id),
            "dateAsserted": instant(row.recorded_at),
            "dosage": [{"text": dosage}] if dosage else [],
        }
    )
