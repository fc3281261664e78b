"""Consultation and eligibility writes: intakes, screenings, physician decisions, notes, consents.

Each public function is keyword-only, owns its transaction, and writes its audit
event in that transaction. Writes by a patient through a link have no staff actor;
they are audited as the patient (role "patient") with the link's id.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from ketaclinic.accounts.access import Actor, get_for
from ketaclinic.accounts.models import User, hash_token
from ketaclinic.audit.services import record, record_patient_link
from ketaclinic.clinical.eligibility import (
    FactError,
    Facts,
    evaluate,
    load_rulesets,
    validate_facts,
)
from ketaclinic.datadirs import clinic_data_dirs
from ketaclinic.links import mail_form_link
from ketaclinic.measures.models import Response
from ketaclinic.patients.allergies import take_intake_answers
from ketaclinic.patients.models import Condition, Medication, Patient, PatientStatus
from ketaclinic.patients.restricted import check_chart
from ketaclinic.screening import intake as intake_rules
from ketaclinic.screening.consent import (
    ConsentTemplate,
    SignedFacts,
    render_pdf,
    sha256,
)
from ketaclinic.screening.models import (
    Consent,
    ConsentLink,
    ConsultationNote,
    Decision,
    IntakeLink,
    IntakeVersion,
    NoteAmendment,
    Screening,
    clinic_today,
)

LINK_DAYS = 7
TOKEN_PREFIX = "kl_"
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
    """Return the DOMAIN §2 classes of the patient's active Medication rows (for pre-filling)."""
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
    """Return (raw DOMAIN §2 facts, the intake version they came from) for `patient` on `on`.

    Age is computed from the birth date on `on` (default: today in the clinic). The
    suicide risk is the most recent assessment by when it was assessed: the intake's
    (its `suicide_risk_assessed_at`, not the version's save time) or the latest C-SSRS
    screen, whichever is newer.
    """
    on = on or clinic_today(patient.clinic)
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


# --- Tokenized links ------------------------------------------------------------------


class LinkProblem(Exception):
    """A link that cannot be used: `reason` is "invalid", "expired" or "used"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _new_token() -> tuple[str, str]:
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return raw, hash_token(raw)


def _open(model: type, token: str, *, lock: bool = False) -> Any:
    queryset = model.objects.select_related("clinic", "patient")
    if lock:
        queryset = queryset.select_for_update(of=("self",))
    link = queryset.filter(digest=hash_token(token)).first()
    if link is None:
        raise LinkProblem("invalid")
    if link.used_at is not None:
        raise LinkProblem("used")
    if link.expires_at <= _now():
        raise LinkProblem("expired")
    return link


def create_intake_link(
    *, actor: Actor, patient: Patient, days: int = LINK_DAYS
) -> tuple[IntakeLink, str]:
    """Return a new single-use intake link and its token (shown once, stored only hashed)."""
    actor.check("forms.send")
    raw, digest = _new_token()
    with transaction.atomic():
        link = IntakeLink.objects.create(
            clinic=actor.clinic,
            patient=patient,
            digest=digest,
            created_by=actor.user,
            expires_at=_now() + timedelta(days=days),
        )
        record(actor, "create", patient_id=patient.pk, obj=link, detail={"days": days})
    return link, raw


# What a link's e-mail calls the form: plain words, nothing clinical (an e-mail can be
# read by others).
LINK_WHAT = {"intake": "a short history form", "consent": "a consent form to read and sign"}


def email_link(
    *, actor: Actor, patient: Patient, link: IntakeLink | ConsentLink, url: str, form: str
) -> str:
    """E-mail the patient a link just created (to the address on record); returns the address.

    The audit event and the e-mail go together: the e-mail leaves only if the event is
    written.
    """
    if not patient.email:
        raise ValidationError({"email": "The patient has no e-mail address on record."})
    with transaction.atomic():
        record(actor, "send", patient_id=patient.pk, obj=link, detail={"by": "email"})
        mail_form_link(
            to=patient.email,
            clinic_name=actor.clinic.name,
            what=LINK_WHAT[form],
            url=url,
            expires_at=link.expires_at,
            tz=actor.clinic.tz,
        )
    return patient.email


def open_intake_link(token: str) -> IntakeLink:
    """Return the usable link for this token, or raise LinkProblem."""
    return _open(IntakeLink, token)


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


def submit_intake_link(*, token: str, data: dict[str, Any], ip: str | None) -> IntakeVersion:
    """Store the patient's history answers as a new intake version on top of the latest one.

    The patient's answers are added to what staff recorded (see _merge_patient_answers);
    the version's `patient_added` tells staff what is new.
    """
    answers = {k: v for k, v in data.items() if k in intake_rules.PATIENT_FIELDS}
    with transaction.atomic():
        link = _open(IntakeLink, token, lock=True)
        patient = link.patient
        current = latest_intake(patient)
        # Validated alone first, so an error names the patient's own row, not a merged one.
        own = intake_rules.clean_intake(answers)
        merged, added = _merge_patient_answers(current.data if current else {}, own)
        cleaned = intake_rules.clean_intake(merged)
        version = _append_version(
            patient=patient,
            data=cleaned,
            source=IntakeVersion.Source.PATIENT,
            user=None,
            patient_added=added,
        )
        link.used_at = _now()
        link.save(update_fields=["used_at"])
        record_patient_link(
            "create",
            clinic_id=link.clinic_id,
            patient_id=patient.pk,
            obj=version,
            ip=ip,
            detail={"version": version.version, "link": link.pk, "added": sorted(added)},
        )
    return version


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


def get_screening_for(actor: Actor, screening_id: int, action: str = "clinical.view") -> Screening:
    """The screening with this id in the actor's clinic, or 404."""
    found = get_for(
        actor, Screening, screening_id, action, related=("patient", "intake"), what="screening"
    )
    check_chart(actor, found.patient)
    return found


def view_screening(*, actor: Actor, screening: Screening) -> None:
    record(actor, "view", patient_id=screening.patient_id, obj=screening)


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


# --- Consent --------------------------------------------------------------------------


CONSENT_NOT_VALID = {
    "withdrawn": "This consent was withdrawn; the patient must sign a new one.",
    "expired": "This consent has expired; the patient must sign a new one.",
    "not_yet": "This consent is not valid yet.",
}


def consent_months() -> int:
    return int(getattr(settings, "KETACLINIC_CONSENT_MONTHS", 12))


def get_template(key: str, clinic: Any, expected_version: int | None = None) -> ConsentTemplate:
    """The template the clinic's patients sign now (its own copy when newer), or 422.

    `expected_version` is the version the signer was shown: if the clinic published a
    newer one meanwhile, the signature is refused rather than attached to unread text.
    """
    from ketaclinic.screening.clinic_consent import templates_for

    found = templates_for(clinic)
    template = found.get(key)
    if template is None:
        raise ValidationError({"template": f"Unknown consent template; known: {', '.join(found)}."})
    if expected_version is not None and expected_version != template.version:
        raise ValidationError(
            {
                "template": "The clinic updated this consent while it was open: read the new "
                f"version ({template.version}) and sign again."
            }
        )
    return template


def _check_signature(
    *, patient: Patient, template: ConsentTemplate, signed_name: str, acknowledgements: list[str]
) -> None:
    typed = " ".join((signed_name or "").split())
    expected = {
        f"{patient.given_name} {patient.family_name}".casefold(),
        f"{patient.display_name}".casefold(),
    }
    if not typed or typed.casefold() not in {" ".join(e.split()) for e in expected}:
        raise ValidationError(
            {"signed_name": "Type the patient's full name exactly as registered."}
        )
    ids = [r.id for r in template.risks]
    unknown = [a for a in acknowledgements if a not in ids]
    if unknown:
        raise ValidationError({"acknowledgements": f"Unknown acknowledgement {unknown[0]!r}."})
    missing = [i for i in ids if i not in acknowledgements]
    if missing:
        raise ValidationError(
            {
                "acknowledgements": f"Every risk must be acknowledged; not ticked: {', '.join(missing)}."
            }
        )


def _sign(
    *,
    patient: Patient,
    template: ConsentTemplate,
    signed_name: str,
    ip: str | None,
    via: str,
    witness: User | None,
) -> Consent:
    clinic = patient.clinic
    signed_at = _now()
    signed_on = timezone.localtime(signed_at, clinic.tz).date()
    expires_on = signed_on + relativedelta(months=consent_months())
    text = template.render(clinic.name)
    witness_name = _name(witness) if witness else ""
    pdf = render_pdf(
        title=template.title,
        text=text,
        facts=SignedFacts(
            patient_name=f"{patient.given_name} {patient.family_name}",
            mrn=patient.mrn,
            birth_date=patient.birth_date.isoformat(),
            signed_name=" ".join(signed_name.split()),
            signed_at=timezone.localtime(signed_at, clinic.tz),
            ip=ip or "",
            via=Consent.Via(via).label,
            witness_name=witness_name,
            ticked=tuple(r.text for r in template.risks),
            template_family=template.family,
            template_version=template.version,
            consent_valid_to=f"{expires_on:%Y-%m-%d} (not valid from that day)",
        ),
    )
    return Consent.objects.create(
        clinic=clinic,
        patient=patient,
        family=template.family,
        template_key=template.key,
        template_version=template.version,
        title=template.title,
        text=text,
        risks=[{"id": r.id, "text": r.text} for r in template.risks],
        signed_name=" ".join(signed_name.split()),
        signed_at=signed_at,
        signed_on=signed_on,
        ip=ip,
        via=via,
        witness=witness,
        witness_name=witness_name,
        expires_on=expires_on,
        rems_enrollment=template.rems,
        pdf=pdf,
        pdf_sha256=sha256(pdf),
    )


def sign_consent(
    *,
    actor: Actor,
    patient: Patient,
    template_key: str,
    signed_name: str,
    acknowledgements: list[str],
    via: str = Consent.Via.TABLET,
    expected_version: int | None = None,
) -> Consent:
    """Record a consent the patient signs in front of the logged-in staff member (the witness)."""
    actor.check("consent.record")
    template = get_template(template_key, actor.clinic, expected_version)
    _check_signature(
        patient=patient,
        template=template,
        signed_name=signed_name,
        acknowledgements=acknowledgements,
    )
    with transaction.atomic():
        consent = _sign(
            patient=patient,
            template=template,
            signed_name=signed_name,
            ip=actor.ip,
            via=via,
            witness=actor.user,
        )
        record(
            actor,
            "sign",
            patient_id=patient.pk,
            obj=consent,
            detail={"family": consent.family, "version": consent.template_version, "via": via},
        )
    return consent


def get_consent_for(actor: Actor, consent_id: int, action: str = "clinical.view") -> Consent:
    """The consent with this id in the actor's clinic, or 404."""
    found = get_for(actor, Consent, consent_id, action, related=("patient",), what="consent")
    check_chart(actor, found.patient)
    return found


def consent_pdf(*, actor: Actor, consent: Consent) -> bytes:
    """Return the stored PDF (audited as a download)."""
    actor.check("clinical.view")
    record(actor, "download", patient_id=consent.patient_id, obj=consent, detail={"what": "pdf"})
    return bytes(consent.pdf)


def cosign_rems(*, actor: Actor, consent: Consent) -> Consent:
    """The prescriber signs the esketamine REMS patient enrollment."""
    actor.check("medical.sign")
    if not consent.rems_enrollment:
        raise ValidationError({"consent": "This consent has no REMS enrollment."})
    state = consent.state_on(clinic_today(actor.clinic))
    if state != "valid":
        raise ValidationError({"consent": CONSENT_NOT_VALID[state]})
    with transaction.atomic():
        # Re-checked in the UPDATE so a withdrawal a moment ago is not co-signed.
        updated = Consent.objects.filter(
            pk=consent.pk, prescriber_signed_at__isnull=True, withdrawn_at__isnull=True
        ).update(
            prescriber=actor.user, prescriber_name=_name(actor.user), prescriber_signed_at=_now()
        )
        if not updated:
            consent.refresh_from_db(fields=["withdrawn_at"])
            raise ValidationError(
                {
                    "consent": CONSENT_NOT_VALID["withdrawn"]
                    if consent.withdrawn_at is not None
                    else "The prescriber has already signed this enrollment."
                }
            )
        record(
            actor,
            "sign",
            patient_id=consent.patient_id,
            obj=consent,
            detail={"what": "rems_prescriber"},
        )
    consent.refresh_from_db()
    return consent


def withdraw_consent(*, actor: Actor, consent: Consent, reason: str = "") -> Consent:
    """Withdraw a consent (time, who recorded it and any reason given); it stays readable.

    The reason is optional: a patient may withdraw consent at any time without giving
    one (the consent text says so), and staff must not have to invent one.
    """
    actor.check("consent.record")
    reason = (reason or "").strip()
    if len(reason) > 2000:
        raise ValidationError({"reason": "At most 2000 characters."})
    with transaction.atomic():
        updated = Consent.objects.filter(pk=consent.pk, withdrawn_at__isnull=True).update(
            withdrawn_at=_now(),
            withdrawn_reason=reason,
            withdrawn_by=actor.user,
            withdrawn_by_name=_name(actor.user),
        )
        if not updated:
            raise ValidationError({"consent": "This consent was already withdrawn."})
        record(actor, "withdraw", patient_id=consent.patient_id, obj=consent)
    consent.refresh_from_db()
    return consent


def create_consent_link(
    *, actor: Actor, patient: Patient, template_key: str, days: int = LINK_DAYS
) -> tuple[ConsentLink, str]:
    """Return a single-use link for the patient to sign `template_key` remotely, and its token."""
    actor.check("forms.send")
    get_template(template_key, actor.clinic)
    raw, digest = _new_token()
    with transaction.atomic():
        link = ConsentLink.objects.create(
            clinic=actor.clinic,
            patient=patient,
            template_key=template_key,
            digest=digest,
            created_by=actor.user,
            expires_at=_now() + timedelta(days=days),
        )
        record(actor, "create", patient_id=patient.pk, obj=link, detail={"template": template_key})
    return link, raw


def open_consent_link(token: str) -> ConsentLink:
    return _open(ConsentLink, token)


def sign_consent_link(
    *,
    token: str,
    signed_name: str,
    acknowledgements: list[str],
    ip: str | None,
    expected_version: int | None = None,
) -> Consent:
    """The patient signs from a link: no witness; the link is used up."""
    with transaction.atomic():
        link = _open(ConsentLink, token, lock=True)
        template = get_template(link.template_key, link.clinic_id, expected_version)
        _check_signature(
            patient=link.patient,
            template=template,
            signed_name=signed_name,
            acknowledgements=acknowledgements,
        )
        consent = _sign(
            patient=link.patient,
            template=template,
            signed_name=signed_name,
            ip=ip,
            via=Consent.Via.LINK,
            witness=None,
        )
        link.used_at = _now()
        link.consent = consent
        link.save(update_fields=["used_at", "consent"])
        record_patient_link(
            "sign",
            clinic_id=link.clinic_id,
            patient_id=link.patient_id,
            obj=consent,
            ip=ip,
            detail={"family": consent.family, "version": consent.template_version, "link": link.pk},
        )
    return consent


def consents_for(patient: Patient) -> list[Consent]:
    return list(
        Consent.objects.filter(clinic_id=patient.clinic_id, patient=patient)
        .defer("pdf", "text")
        .order_by("-signed_at", "-pk")[:50]
    )
