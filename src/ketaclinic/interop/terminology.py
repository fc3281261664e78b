"""The code systems and codes our FHIR output uses, each with where it comes from.

Condition codes come from clinical/conditions.py and questionnaire LOINC codes from the
instrument definitions (docs/clinical-sources.md §1 (Conditions and their codes), §6 (Instruments)); this module holds only what FHIR adds:
system URIs, the vital-sign codes and units, and category codes. Nothing here is a
guess: a code we could not source (esketamine's RxNorm concept) is left out and the
product's NDC is sent instead.
"""

from __future__ import annotations

from dataclasses import dataclass

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NDC = "http://hl7.org/fhir/sid/ndc"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
ROUTE = "http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
CONSENT_CATEGORY = "http://loinc.org"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
# Our own identifiers and local codes (MOAA/S, CADSS-6 and others LOINC has no code for).
LOCAL = "https://ketaclinic.org/fhir"
LOCAL_CODES = f"{LOCAL}/CodeSystem/local"

US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition"


@dataclass(frozen=True)
class VitalSign:
    """One vital sign as US Core codes it: LOINC code, display, UCUM unit, profile."""

    key: str
    loinc: str
    display: str
    unit: str
    ucum: str
    profile: str
    # Extra codings the profile requires beside the main one (pulse oximetry: 2708-6).
    also: tuple[tuple[str, str], ...] = ()


# LOINC and UCUM from the FHIR vital-signs value set (clinical-sources.md §3.12, FHIR-VS)
# and the US Core 5.0.1 vital-sign profiles they name.
VITALS: dict[str, VitalSign] = {
    v.key: v
    for v in (
        VitalSign("heart_rate", "8867-4", "Heart rate", "/min", "/min", "us-core-heart-rate"),
        VitalSign(
            "respiratory_rate", "9279-1", "Respiratory rate", "/min", "/min",
            "us-core-respiratory-rate",
        ),
        # US Core pulse oximetry codes 59408-5 and the vital-sign code 2708-6 together.
        VitalSign(
            "spo2", "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%",
            "%", "us-core-pulse-oximetry",
            also=(("2708-6", "Oxygen saturation in Arterial blood"),),
        ),
        VitalSign(
            "temperature_c", "8310-5", "Body temperature", "Cel", "Cel",
            "us-core-body-temperature",
        ),
        VitalSign("weight_kg", "29463-7", "Body weight", "kg", "kg", "us-core-body-weight"),
        VitalSign("height_cm", "8302-2", "Body height", "cm", "cm", "us-core-body-height"),
    )
}  # fmt: skip
BP_PANEL = ("85354-9", "Blood pressure panel with all children optional")
BP_SYSTOLIC = ("8480-6", "Systolic blood pressure")
BP_DIASTOLIC = ("8462-4", "Diastolic blood pressure")
BP_PROFILE = "us-core-blood-pressure"

# Ketamine's RxNorm ingredient concept: clinical-sources.md §3.14 ("RxCUI 6130, high
# confidence"). Esketamine's RxCUI is not in our sources ("resolve via RxNav, do not
# hard-code"), so esketamine is sent with the product's NDC and text only.
RXNORM_INGREDIENT = {"ketamine": ("6130", "ketamine")}

# Routes (HL7 v3 RouteOfAdministration): IV infusion, intramuscular, nasal.
ROUTES = {
    "iv": ("IVINFUS", "Intravenous infusion"),
    "im": ("IM", "Intramuscular injection"),
    "intranasal": ("NASINHLC", "Nasal inhalation"),
}

# Local codes for what has no standard code in our sources (docs/clinical-sources.md §6 (Instruments): "local code").
LOCAL_OBSERVATIONS = {
    "moaas": "Modified Observer's Assessment of Alertness/Sedation (MOAA/S)",
    "cadss6": "Clinician-Administered Dissociative States Scale, 6 items (CADSS-6)",
}
