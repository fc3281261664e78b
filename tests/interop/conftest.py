"""A small record to read through FHIR, and the external validator (Medplum, run by node)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from ketaclinic.measures.models import Response
from ketaclinic.patients.models import Allergy, Condition, Medication, Patient
from ketaclinic.scheduling.models import Appointment, Room, TreatmentCourse
from ketaclinic.treatment.models import (
    Administration,
    AdverseEvent,
    TreatmentSession,
    VitalReading,
)

VALIDATOR = Path(__file__).parent / "validator"


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path):
    settings.KETACLINIC_EXPORT_DIR = tmp_path / "exports"
    return settings.KETACLINIC_EXPORT_DIR


def at(day: str, hm: str = "10:00") -> datetime:
    return datetime.fromisoformat(f"{day}T{hm}:00").replace(tzinfo=UTC)


def _session(clinic, patient, nurse, chair, day: str):
    course = TreatmentCourse.objects.filter(
        patient=patient
    ).first() or TreatmentCourse.objects.create(
        clinic=clinic,
        patient=patient,
        protocol_code="ketamine-iv-mood",
        protocol_version=1,
        family="ketamine-iv-mood",
        planned_sessions=6,
        start_date=date.fromisoformat(day),
        prescriber=nurse.user,
        status="active",
    )
    appointment = Appointment.objects.create(
        clinic=clinic,
        patient=patient,
        kind="treatment",
        room=chair,
        course=course,
        staff=nurse,
        start=at(day, "09:00"),
        end=at(day, "11:00"),
        status="completed",
    )
    return TreatmentSession.objects.create(
        clinic=clinic,
        patient=patient,
        appointment=appointment,
        course=course,
        room=chair,
        protocol_code="ketamine-iv-mood",
        protocol_version=1,
        drug="racemic_ketamine",
        route="iv",
        state="discharged",
        started_at=at(day, "09:05"),
        started_by=nurse.user,
        dose_started_at=at(day, "09:20"),
        dose_ended_at=at(day, "10:00"),
        discharged_at=at(day, "10:45"),
    )


def _reading(session, nurse, when, **values):
    return VitalReading.objects.create(
        session=session,
        taken_at=when,
        phase="during",
        recorded_by=nurse.user,
        recorded_at=when,
        **values,
    )


def _phq9(clinic, patient, when, answers):
    total = sum(answers)
    return Response.objects.create(
        clinic=clinic,
        patient=patient,
        instrument="phq9",
        version=1,
        answers=answers,
        total=total,
        severity="moderate" if total >= 10 else "mild",
        severity_label="Moderate" if total >= 10 else "Mild",
        taken_at=when,
    )


@pytest.fixture
def record(clinic, staff, patient):
    """Maria's record: two problems, an allergy, a medication, two sessions of vitals, PHQ-9s."""
    nurse = staff["nurse"]
    chair = Room.objects.create(clinic=clinic, name="Chair 1", kind="treatment_chair")
    mdd = Condition.objects.create(
        clinic=clinic, patient=patient, code="mdd", icd10cm="F33.1", onset=date(2019, 5, 1)
    )
    gad = Condition.objects.create(clinic=clinic, patient=patient, code="gad", is_active=False)
    allergy = Allergy.objects.create(
        clinic=clinic,
        patient=patient,
        substance="Penicillin",
        reaction="Hives",
        severity="moderate",
    )
    medication = Medication.objects.create(
        clinic=clinic,
        patient=patient,
        name="Sertraline",
        med_class="oral_antidepressant",
        dose="100 mg",
        frequency="daily",
    )
    first = _session(clinic, patient, nurse, chair, "2026-11-02")
    second = _session(clinic, patient, nurse, chair, "2026-11-09")
    readings = [
        _reading(first, nurse, at("2026-11-02", "09:15"), systolic=128, diastolic=82, heart_rate=72,
                 spo2=98, respiratory_rate=14, temperature_c=Decimal("36.6")),
        _reading(first, nurse, at("2026-11-02", "10:00"), systolic=146, diastolic=91, heart_rate=80),
        _reading(second, nurse, at("2026-11-09", "09:15"), systolic=124, diastolic=80, spo2=97),
    ]  # fmt: skip
    Administration.objects.create(
        session=first,
        drug="racemic_ketamine",
        product="Ketamine 10 mg/mL (diluted)",
        lot_number="KX2407",
        route="iv",
        dose_mg=Decimal("35.00"),
        dose_mg_per_kg=Decimal("0.500"),
        weight_used_kg=Decimal("70.00"),
        concentration_mg_per_ml=Decimal("10.00"),
        rate_ml_per_h=Decimal("5.25"),
        unit="mL",
        total_given_mg=Decimal("35.00"),
        recorded_by=nurse.user,
        recorded_at=at("2026-11-02", "09:20"),
    )
    adverse = AdverseEvent.objects.create(
        session=first,
        type="hypertension",
        severity="moderate",
        onset_at=at("2026-11-02", "10:00"),
        interventions=["infusion_paused"],
        outcome="resolved",
        note="BP 146/91 at 40 minutes; settled after a pause.",
        recorded_by=nurse.user,
        recorded_at=at("2026-11-02", "10:05"),
    )
    phq9 = [
        _phq9(clinic, patient, at("2026-10-30"), [2, 2, 2, 2, 2, 2, 2, 1, 1]),
        _phq9(clinic, patient, at("2026-11-06"), [1, 1, 1, 1, 1, 1, 1, 1, 0]),
        _phq9(clinic, patient, at("2026-11-13"), [1, 0, 1, 0, 1, 0, 0, 0, 0]),
    ]
    return {
        "conditions": [mdd, gad],
        "allergy": allergy,
        "medication": medication,
        "sessions": [first, second],
        "readings": readings,
        "phq9": phq9,
        "adverse_event": adverse,
    }


@pytest.fixture
def neighbour(clinic, staff):
    """Another patient of the same clinic with a PHQ-9 of their own."""
    other = Patient.objects.create(
        clinic=clinic,
        mrn="MRN000002",
        given_name="James",
        family_name="Okoro",
        birth_date=date(1990, 1, 2),
        sex_at_birth="male",
    )
    _phq9(clinic, other, at("2026-11-05"), [3, 3, 3, 3, 3, 3, 3, 3, 3])
    return other


@pytest.fixture
def stranger(other_clinic):
    """A patient of another clinic, with a condition."""
    found = Patient.objects.create(
        clinic=other_clinic,
        mrn="N-1",
        given_name="Ada",
        family_name="North",
        birth_date=date(1970, 7, 7),
        sex_at_birth="female",
    )
    Condition.objects.create(clinic=other_clinic, patient=found, code="ptsd")
    return found


def _validator_ready() -> bool:
    return shutil.which("node") is not None and (VALIDATOR / "node_modules" / "@medplum").is_dir()


@pytest.fixture(scope="session")
def fhir_validate():
    """fhir_validate(resources) -> the errors Medplum's validator finds (base R4 + profiles)."""
    if not _validator_ready():
        message = "the FHIR validator is not installed: `make fhir-validator` (needs node and npm)"
        if os.environ.get("KETACLINIC_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)

    def _validate(resources: list[dict]) -> list[dict]:
        lines = "".join(json.dumps(r) + "\n" for r in resources)
        done = subprocess.run(
            ["node", "validate.js"],
            cwd=VALIDATOR,
            input=lines,
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        results = [json.loads(line) for line in done.stdout.splitlines()]
        assert len(results) == len(resources)
        return [
            {"id": f"{r['resourceType']}/{r['id']}", **issue}
            for r in results
            for issue in r["issues"]
        ]

    return _validate


def parse_r4b(resource: dict) -> None:
    """Parse with fhir.resources' R4B models (the default package is R5)."""
    from fhir.resources.R4B import get_fhir_model_class

    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
