"""Consultation and eligibility pages, by page family.

urls.py names each view through this package: `intake` (the structured intake and its
versions), `screenings` (run, result, decision), `consultation` (the physician's notes),
`consent` (signed in the clinic) and `links` (single-use links the patient opens).
"""

from ketaclinic.screening.views.consent import (
    consent_cosign,
    consent_detail,
    consent_pdf,
    consent_sign,
    consent_withdraw,
)
from ketaclinic.screening.views.consultation import consultation, consultation_sign, note_amend
from ketaclinic.screening.views.intake import intake, intake_save, intake_version
from ketaclinic.screening.views.links import (
    consent_link_create,
    intake_link_create,
    public_consent,
    public_intake,
)
from ketaclinic.screening.views.screenings import screening_decide, screening_result, screening_run

__all__ = [
    "consent_cosign",
    "consent_detail",
    "consent_link_create",
    "consent_pdf",
    "consent_sign",
    "consent_withdraw",
    "consultation",
    "consultation_sign",
    "intake",
    "intake_link_create",
    "intake_save",
    "intake_version",
    "note_amend",
    "public_consent",
    "public_intake",
    "screening_decide",
    "screening_result",
    "screening_run",
]
