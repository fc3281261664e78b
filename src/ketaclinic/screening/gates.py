"""What a treatment course still needs before it may start (called by scheduling).

Contract (implemented by the screening capability):

    missing_items(*, patient, family: str, on: date) -> list[GateItem]
    missing_for_course(*, patient, family: str, on: date) -> list[str]

list what is missing for `patient` to start a course of the protocol `family`
("esketamine-nasal", "ketamine-iv-mood", "ketamine-im-mood", "ketamine-iv-pain") on
day `on`: an accepted (or overridden) eligibility evaluation for that family, a valid
(signed, unexpired, not withdrawn) consent for that family, and for esketamine the
REMS patient enrollment. An empty list means nothing is missing. `missing_items`
gives each item a stable code (ELIGIBILITY, CONSENT, REMS_ENROLLMENT) with its
plain-language message, so callers decide by the code and never by the wording;
`missing_for_course` is just the messages.

Rules as implemented:
- eligibility: the patient's most recent screening for the family (by when it was
  run) must be decided and accepted or overridden: a later decline supersedes an
  earlier acceptance, and so does a later screening still awaiting its decision;
  `eligibility_status` says how it stands ("accepted (override)" for an override);
- consent: the most recent signed consent for the family must be valid on `on`
  (signed on or before `on`, `on` before its expiry day, never withdrawn);
- esketamine: that consent's REMS enrollment must carry the prescriber's signature
  as well as the patient's.
Two queries, whatever the patient's history. An unknown family raises ValueError.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ketaclinic.patients.models import Patient
from ketaclinic.screening.models import FAMILY_LABELS, Consent, Screening

REMS_FAMILY = "esketamine-nasal"

# The stable codes of what a course can be missing.
ELIGIBILITY = "eligibility"
CONSENT = "consent"
REMS_ENROLLMENT = "rems_enrollment"


@dataclass(frozen=True)
class GateItem:
    """One thing missing before a course may start: a stable code and the message shown."""

    code: str
    message: str


@dataclass(frozen=True)
class EligibilityStatus:
    """The latest screening for a family as the gate reads it.

    `label` is what staff see ("accepted", "accepted (override)", "declined",
    "awaiting a physician decision", "none"); `missing` is the gate's message when the
    course may not start, None when it may.
    """

    label: str
    missing: str | None
    screening: Screening | None


def eligibility_status(*, patient: Patient, family: str) -> EligibilityStatus:
    """Return how the latest screening for `family` stands (one query)."""
    if family not in FAMILY_LABELS:
        raise ValueError(f"unknown protocol family {family!r}")
    return _eligibility(patient, family)


def _eligibility(patient: Patient, family: str) -> EligibilityStatus:
    # The latest screening by when it was run decides, decided or not: a newer,
    # undecided evaluation (say, ineligible after a new intake) must not let an older
    # acceptance start a course.
    latest = (
        Screening.objects.filter(clinic_id=patient.clinic_id, patient=patient, protocol=family)
        .order_by("-created_at", "-pk")
        .only("decision", "result", "decided_by_name", "decided_at")
        .first()
    )
    wanted = f"An eligibility evaluation for {FAMILY_LABELS[family]} accepted by a physician"
    if latest is None:
        return EligibilityStatus("none", f"{wanted}.", None)
    if not latest.decision:
        return EligibilityStatus(
            "awaiting a physician decision",
            f"{wanted} (the latest evaluation awaits a physician decision).",
            latest,
        )
    if latest.is_override:
        return EligibilityStatus("accepted (override)", None, latest)
    if latest.approved:
        return EligibilityStatus("accepted", None, latest)
    return EligibilityStatus("declined", f"{wanted} (the latest was declined).", latest)


def missing_for_course(*, patient: Patient, family: str, on: date) -> list[str]:
    """Return the plain-language items still missing to start `family` on `on` ([] = none)."""
    return [item.message for item in missing_items(patient=patient, family=family, on=on)]


def missing_items(*, patient: Patient, family: str, on: date) -> list[GateItem]:
    """Return what is still missing to start `family` on `on`, code and message ([] = none)."""
    if family not in FAMILY_LABELS:
        raise ValueError(f"unknown protocol family {family!r}")
    label = FAMILY_LABELS[family]
    missing: list[GateItem] = []
    status = _eligibility(patient, family)
    if status.missing is not None:
        missing.append(GateItem(ELIGIBILITY, status.missing))
    consent = (
        Consent.objects.filter(clinic_id=patient.clinic_id, patient=patient, family=family)
        .order_by("-signed_at", "-pk")
        .defer("pdf", "text")
        .first()
    )
    state = consent.state_on(on) if consent is not None else "none"
    if state == "none":
        missing.append(GateItem(CONSENT, f"A signed consent for {label}."))
    elif state == "withdrawn":
        missing.append(
            GateItem(CONSENT, f"A signed consent for {label} (the latest was withdrawn).")
        )
    elif state == "expired":
        assert consent is not None  # "none" when there is no consent
        missing.append(
            GateItem(
                CONSENT,
                f"A signed consent for {label} (the latest expired on "
                f"{consent.expires_on:%Y-%m-%d}).",
            )
        )
    elif state == "not_yet":
        missing.append(
            GateItem(CONSENT, f"A signed consent for {label} dated on or before {on:%Y-%m-%d}.")
        )
    if family == REMS_FAMILY and not (
        consent is not None and state == "valid" and consent.rems_complete
    ):
        if consent is not None and state == "valid" and consent.rems_enrollment:
            missing.append(
                GateItem(
                    REMS_ENROLLMENT, "The REMS patient enrollment co-signed by the prescriber."
                )
            )
        else:
            missing.append(
                GateItem(
                    REMS_ENROLLMENT,
                    "The REMS patient enrollment signed by the patient and the prescriber.",
                )
            )
    return missing
