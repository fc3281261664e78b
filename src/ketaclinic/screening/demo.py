"""Demo data for this capability, called by seed_demo (idempotent).

Intakes for most demo patients (from their chart conditions and medications), eligibility
screenings with physician decisions (accepted; one ineligible declined; one overridden
with a reason), consultation notes, and signed consents (one expired, one withdrawn).
Everything goes through the services, so the audit log reads like a real clinic's.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from dateutil.relativedelta import relativedelta
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Membership
from ketaclinic.screening import services
from ketaclinic.screening.consent import load_templates
from ketaclinic.screening.models import Consent, IntakeVersion

PAIN = {"crps", "fibromyalgia", "neuropathic_pain"}
TRIAL_DRUGS = [
    ("Sertraline", "150 mg/day"),
    ("Escitalopram", "20 mg/day"),
    ("Venlafaxine XR", "225 mg/day"),
    ("Bupropion XL", "300 mg/day"),
    ("Mirtazapine", "45 mg/day"),
    ("Duloxetine", "60 mg/day"),
]


def _actor(clinic: Any, role: str) -> Actor | None:
    membership = (
        Membership.objects.filter(clinic=clinic, role=role, is_active=True)
        .select_related("user", "clinic")
        .first()
    )
    return Actor(membership.user, membership, ip="127.0.0.1") if membership else None


def _intake(
    rng: random.Random, patient: Any, diagnoses: list[str], meds: list[str]
) -> dict[str, Any]:
    trials = []
    if "mdd" in diagnoses or "bipolar_depression" in diagnoses:
        for drug, dose in rng.sample(TRIAL_DRUGS, rng.choice([1, 2, 3, 3])):
            trials.append(
                {
                    "drug": drug,
                    "dose": dose,
                    "weeks": rng.choice([4, 6, 8, 10, 12]),
                    "adequate_dose": rng.random() > 0.15,
                    "response": rng.choice(["none", "partial", "partial", "not_tolerated"]),
                }
            )
    systolic = rng.randint(112, 138)
    return {
        "diagnoses": diagnoses,
        "trials_asked": True,
        "trials": trials,
        "psychiatric_history": "Recurrent depressive episodes since early adulthood; outpatient care only.",
        "substance_use": "Alcohol socially; no other substances.",
        "history_asked": True,
        "history": [],
        "medications_asked": True,
        "medications": meds,
        "allergies": ", ".join(a.substance for a in patient.allergies.all()) or "None known",
        "systolic_bp": systolic,
        "diastolic_bp": rng.randint(70, min(88, systolic - 30)),
        "heart_rate": rng.randint(58, 92),
        "weight_kg": float(patient.weight_kg) if patient.weight_kg else 72.0,
        "height_cm": float(patient.height_cm) if patient.height_cm else 170.0,
        "suicide_risk": rng.choice(["none", "none", "low"]),
    }


def _family(diagnoses: list[str], index: int) -> str:
    if PAIN & set(diagnoses):
        return "ketamine-iv-pain"
    if "mdd" in diagnoses and index % 3 == 0:
        return "esketamine-nasal"
    return "ketamine-iv-mood"


def _sign(nurse: Actor, doctor: Actor, patient: Any, family: str) -> Consent:
    template = load_templates()[family]
    consent = services.sign_consent(
        actor=nurse,
        patient=patient,
        template_key=family,
        signed_name=f"{patient.given_name} {patient.family_name}",
        acknowledgements=[r.id for r in template.risks],
    )
    if template.rems:
        consent = services.cosign_rems(actor=doctor, consent=consent)
    return consent


def seed(clinic, patients) -> None:
    """Extend the demo clinic; `patients` are the clinic's demo patients by MRN order."""
    if IntakeVersion.objects.filter(clinic=clinic).exists():
        return
    nurse, doctor = _actor(clinic, "nurse"), _actor(clinic, "physician")
    if nurse is None or doctor is None:
        return
    rng = random.Random(404)
    special = {}  # the three teaching cases, by position in the list
    candidates = [p for p in patients if p.status in ("screening", "referred")]
    if len(candidates) >= 2:
        special = {candidates[0].pk: "declined", candidates[1].pk: "overridden"}
    consents: list[Consent] = []
    for index, patient in enumerate(patients):
        if index % 7 == 6:
            continue  # recently referred: no intake yet
        diagnoses = sorted({c.code for c in patient.conditions.all() if c.is_active}) or ["mdd"]
        meds = sorted(
            {
                m.med_class
                for m in patient.medications.all()
                if m.is_active and m.med_class != "other"
            }
        )
        data = _intake(rng, patient, diagnoses, meds)
        case = special.get(patient.pk)
        if case == "declined":
            data["history"] = ["psychosis_current"]
        if case == "overridden":
            data["systolic_bp"], data["diastolic_bp"] = 182, 104
        services.save_intake(actor=nurse, patient=patient, data=data)
        if patient.status not in ("active", "maintenance") and case is None:
            continue
        family = "ketamine-iv-mood" if case else _family(diagnoses, index)
        screening = services.run_screening(actor=nurse, patient=patient, protocol=family)
        if case == "declined":
            services.decide(
                actor=doctor,
                screening=screening,
                decision="decline",
                reason="Current psychotic symptoms; referred back to the treating psychiatrist.",
            )
            continue
        if case == "overridden":
            services.decide(
                actor=doctor,
                screening=screening,
                decision="override",
                reason="White-coat hypertension: home readings and a rested repeat of 136/84 mmHg; "
                "cardiology agrees. Recheck BP before every infusion.",
            )
        elif screening.result == "ineligible":
            services.decide(
                actor=doctor,
                screening=screening,
                decision="decline",
                reason="Excluded by the rules; discussed alternatives.",
            )
            continue
        else:
            services.decide(
                actor=doctor,
                screening=screening,
                decision="accept",
                reason=""
                if screening.result == "eligible"
                else "Reviewed the cautions with the patient.",
            )
        if index % 4 == 1:
            services.sign_note(
                actor=doctor,
                patient=patient,
                screening=screening,
                text="Consultation: history and prior trials reviewed, risks and alternatives discussed. "
                "Plan: induction series per protocol with BP monitoring.",
            )
        consents.append(_sign(nurse, doctor, patient, family))
    # The demo's consents were signed four weeks ago, before the demo courses began.
    signed = timezone.now() - timedelta(days=28)
    signed_on = timezone.localtime(signed, clinic.tz).date()
    Consent.objects.filter(pk__in=[c.pk for c in consents]).update(
        signed_at=signed,
        signed_on=signed_on,
        expires_on=signed_on + relativedelta(months=services.consent_months()),
    )
    Consent.objects.filter(
        pk__in=[c.pk for c in consents], prescriber_signed_at__isnull=False
    ).update(prescriber_signed_at=signed)
    if len(consents) >= 2:
        # One consent signed 13 months ago, so it has expired; one withdrawn.
        old = consents[0]
        signed = timezone.now() - relativedelta(months=13)
        signed_on = timezone.localtime(signed, clinic.tz).date()
        Consent.objects.filter(pk=old.pk).update(
            signed_at=signed,
            signed_on=signed_on,
            expires_on=signed_on + relativedelta(months=services.consent_months()),
        )
        services.withdraw_consent(
            actor=nurse,
            consent=consents[1],
            reason="Patient chose to pause treatment and withdrew consent by phone.",
        )
