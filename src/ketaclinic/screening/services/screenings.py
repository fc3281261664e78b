"""Eligibility screening: running the rules, the physician's decision, the screening note."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F

from ketaclinic.accounts.access import Actor, get_for
from ketaclinic.audit.services import record
from ketaclinic.clinical.eligibility import FactError, evaluate, load_rulesets, validate_facts
from ketaclinic.datadirs import clinic_data_dirs
from ketaclinic.patients.models import Patient, PatientStatus
from ketaclinic.patients.restricted import check_chart
from ketaclinic.screening import intake as intake_rules
from ketaclinic.screening.models import ConsultationNote, Decision, NoteAmendment, Screening

from .intake import _measures_query, _name, _now, intake_facts, latest_intake

# --- Screening ------------------------------------------------------------------------


def rulesets() -> dict[str, Any]:
    return load_rulesets(clinic_data_dirs("rules"))


def run_screening(
    *, actor: Actor, patient: Patient, protocol: str, overrides: dict[str, Any] | None = None
) -> Screening:
    """Evaluate the patient's intake (overrides take precedence) and store the result.

    Raises ValidationError naming `protocol` for an unknown family, and FactError
    (from the clinical core) naming the first unknown or mistyped fact in `overrides`,
    or `age` when the patient has a birth date.
    """
    actor.check("screening.run")
    available = rulesets()
    if protocol not in available:
        raise ValidationError(
            {"protocol": f"Unknown protocol family; known: {', '.join(sorted(available))}."}
        )
    overrides = dict(overrides or {})
    if "age" in overrides and patient.birth_date is not None:
        # The age is derived from the birth date on the evaluation day; a posted age
        # could make a minor look like an adult.
        raise FactError("age", "The age comes from the patient's birth date; do not post it.")
    base, current = intake_facts(patient)
    facts = intake_rules.merge_facts(base, overrides)
    ruleset = available[protocol]
    result = evaluate(ruleset, facts)
    with transaction.atomic():
        screening = Screening.objects.create(
            clinic=actor.clinic,
            patient=patient,
            protocol=protocol,
            ruleset_version=result.version,
            ruleset_hash=result.ruleset_hash,
            intake=current,
            facts=facts.to_dict(),
            # Explicit nulls ("make this fact unknown") are kept alongside the given values.
            overrides={
                **{name: None for name, value in overrides.items() if value is None},
                **validate_facts(overrides).to_dict(),
            },
            result=result.decision,
            findings=[f.to_dict() for f in result.findings],
            missing=list(result.missing),
            created_by=actor.user,
        )
        moved = Patient.objects.filter(pk=patient.pk, status=PatientStatus.REFERRED).update(
            status=PatientStatus.SCREENING, version=F("version") + 1, updated_at=_now()
        )
        record(
            actor,
            "create",
            patient_id=patient.pk,
            obj=screening,
            detail={
                "protocol": protocol,
                "ruleset_version": result.version,
                "ruleset_hash": result.ruleset_hash,
                "result": result.decision,
                "facts_overridden": sorted(overrides),
                **({"status": "screening"} if moved else {}),
            },
        )
    return screening


def _screening_guard(actor: Actor, screening: Screening) -> None:
    check_chart(actor, screening.patient)


def get_screening_for(
    actor: Actor, screening_id: int, action: str = "clinical.view", *, read: bool = False
) -> Screening:
    """The screening with this id in the actor's clinic, or 404 (`read`: audit the read here)."""
    return get_for(
        actor,
        Screening,
        screening_id,
        action,
        related=("patient", "intake"),
        what="screening",
        guard=_screening_guard,
        read=read,
    )


@dataclass
class DecisionConflict(Exception):
    """A decision that contradicts the evaluation (409): `conflicts` are the rule ids."""

    detail: str
    conflicts: list[str]


# (engine result, decision) -> why a written reason is needed. The record must say why
# the physician's judgement differs from the rules, as it does for an override.
AGAINST_THE_ENGINE = {
    ("eligible", "decline"): "Declining an eligible result needs a written reason.",
    ("needs_review", "accept"): (
        "Accepting a result that needs review needs a written reason: say how the "
        "flagged findings were reviewed."
    ),
}


def decide(*, actor: Actor, screening: Screening, decision: str, reason: str = "") -> Screening:
    """Sign the physician's decision on a screening; moves the patient to `active` on approval.

    - only physicians (medical.sign);
    - accepting an `ineligible` result raises DecisionConflict (use override);
    - override applies only to an `ineligible` result and needs a written reason (a
      `needs_review` result is accepted or declined: there is no exclusion to override);
    - a decision that goes against the engine (declining an eligible result, accepting
      one that needs review) needs a written reason, as an override does;
    - a screening is decided once; a new decision needs a new screening.
    """
    actor.check("medical.sign")
    reason = (reason or "").strip()
    if decision not in Decision.values:
        raise ValidationError({"decision": "Must be accept, decline or override."})
    if decision == Decision.OVERRIDE:
        if screening.result != "ineligible":
            raise ValidationError(
                {"decision": "Only an ineligible result is overridden; accept or decline this one."}
            )
        if not reason:
            raise ValidationError({"reason": "An override needs a written reason."})
    against = AGAINST_THE_ENGINE.get((screening.result, decision))
    if against and not reason:
        raise ValidationError({"reason": against})
    if len(reason) > 4000:
        raise ValidationError({"reason": "At most 4000 characters."})
    with transaction.atomic():
        locked = Screening.objects.select_for_update().get(pk=screening.pk)
        if locked.decision:
            raise DecisionConflict(
                f"This screening was already {locked.get_decision_display().lower()} "
                f"by {locked.decided_by_name}; run a new screening for a new decision.",
                [],
            )
        if decision == Decision.ACCEPT and locked.result == "ineligible":
            raise DecisionConflict(
                "The evaluation is ineligible: it cannot be accepted. Decline it, or override "
                "it with a written reason.",
                [f["rule"] for f in locked.findings if f["level"] == "exclude"],
            )
        locked.decision = decision
        locked.decision_reason = reason
        locked.decided_by = actor.user
        locked.decided_by_name = _name(actor.user)
        locked.decided_at = _now()
        locked.save(
            update_fields=[
                "decision",
                "decision_reason",
                "decided_by",
                "decided_by_name",
                "decided_at",
            ]
        )
        moved = 0
        if locked.approved:
            moved = Patient.objects.filter(
                pk=locked.patient_id,
                status__in=[
                    PatientStatus.REFERRED,
                    PatientStatus.SCREENING,
                    PatientStatus.INACTIVE,
                ],
            ).update(status=PatientStatus.ACTIVE, version=F("version") + 1, updated_at=_now())
        record(
            actor,
            "sign",
            patient_id=locked.patient_id,
            obj=locked,
            detail={
                "decision": decision,
                "result": locked.result,
                "protocol": locked.protocol,
                **({"status": "active"} if moved else {}),
            },
        )
    return locked


def latest_screenings(patient: Patient) -> list[Screening]:
    """Return the newest screening per protocol family (one query)."""
    seen: dict[str, Screening] = {}
    for screening in Screening.objects.filter(
        clinic_id=patient.clinic_id, patient=patient
    ).order_by("-created_at", "-pk")[:200]:
        seen.setdefault(screening.protocol, screening)
    return list(seen.values())


# --- Consultation note ----------------------------------------------------------------


def baseline_scores(patient: Patient) -> list[dict[str, Any]]:
    """Return the latest score per instrument from the measures app, or [] without it."""
    rows = _measures_query(
        lambda response_model: list(
            response_model.objects.filter(clinic_id=patient.clinic_id, patient_id=patient.pk)
            .order_by("-taken_at")
            .values("instrument", "version", "total", "severity", "severity_label", "taken_at")[
                :200
            ]
        )
    )
    latest: dict[str, dict[str, Any]] = {}
    for row in rows or []:
        latest.setdefault(
            row["instrument"],
            {
                "instrument": row["instrument"],
                "version": row["version"],
                "total": row["total"],
                "severity": row["severity"],
                "severity_label": row["severity_label"],
                "taken_at": row["taken_at"].isoformat(),
            },
        )
    return sorted(latest.values(), key=lambda r: r["instrument"])


def sign_note(
    *, actor: Actor, patient: Patient, text: str, screening: Screening | None = None
) -> ConsultationNote:
    """Sign the consultation note tying the current intake, baseline scores and a screening."""
    actor.check("medical.sign")
    if not text.strip():
        raise ValidationError({"text": "Write the note."})
    if screening is not None and screening.patient_id != patient.pk:
        raise ValidationError({"screening": "That screening belongs to another patient."})
    with transaction.atomic():
        note = ConsultationNote.objects.create(
            clinic=actor.clinic,
            patient=patient,
            intake=latest_intake(patient),
            screening=screening,
            baseline=baseline_scores(patient),
            text=text.strip(),
            signed_by=actor.user,
            signed_by_name=_name(actor.user),
        )
        record(
            actor,
            "sign",
            patient_id=patient.pk,
            obj=note,
            detail={"intake": note.intake_id, "screening": note.screening_id},
        )
    return note


def amend_note(*, actor: Actor, note: ConsultationNote, text: str, reason: str) -> NoteAmendment:
    """Add a signed amendment; the original note is never changed."""
    actor.check("medical.sign")
    if not text.strip():
        raise ValidationError({"text": "Write the amendment."})
    if not reason.strip():
        raise ValidationError({"reason": "An amendment needs a reason."})
    with transaction.atomic():
        amendment = NoteAmendment.objects.create(
            clinic=actor.clinic,
            note=note,
            text=text.strip(),
            reason=reason.strip(),
            signed_by=actor.user,
            signed_by_name=_name(actor.user),
        )
        record(
            actor, "amend", patient_id=note.patient_id, obj=note, detail={"amendment": amendment.pk}
        )
    return amendment
