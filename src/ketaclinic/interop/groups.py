"""FHIR Groups: a clinic's patients by the protocol family of their treatment courses.

A Group is every patient who has (or had) a treatment course of one protocol family,
whatever the course's status: `Group/esketamine-nasal` is the clinic's esketamine
cohort. It is what `Group/{id}/$export` exports, e.g. for a registry of one treatment.
Membership is computed from the record when asked, so it is never out of date.
"""

from __future__ import annotations

from typing import Any

from ketaclinic.accounts.models import Clinic
from ketaclinic.interop import terminology as t
from ketaclinic.scheduling.models import TreatmentCourse
from ketaclinic.screening.models import FAMILY_LABELS

GROUPS = FAMILY_LABELS  # group id -> label


def member_ids(clinic: Clinic, group_id: str) -> list[int]:
    """The patients of the clinic in this group, by id."""
    return sorted(
        set(
            TreatmentCourse.objects.filter(clinic=clinic, family=group_id).values_list(
                "patient_id", flat=True
            )
        )
    )


def group(clinic: Clinic, group_id: str) -> dict[str, Any]:
    members = member_ids(clinic, group_id)
    label = GROUPS[group_id]
    return {
        "resourceType": "Group",
        "id": group_id,
        "identifier": [{"system": f"{t.LOCAL}/group", "value": group_id}],
        "active": True,
        "type": "person",
        "actual": True,
        "name": f"Patients with a course of {label}",
        "characteristic": [
            {
                "code": {"text": "Treatment course protocol family"},
                "valueCodeableConcept": {
                    "coding": [{"system": f"{t.LOCAL}/protocol-family", "code": group_id}],
                    "text": label,
                },
                "exclude": False,
            }
        ],
        "quantity": len(members),
        "managingEntity": {"reference": f"Organization/{clinic.pk}"},
        **(
            {"member": [{"entity": {"reference": f"Patient/{pk}"}} for pk in members]}
            if members
            else {}
        ),
    }
