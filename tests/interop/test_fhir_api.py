"""The FHIR R4 API as a US Core client uses it: reads, searches, paging, isolation, roles, audit."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.test import Client

from ketaclinic.audit.models import AuditEvent
from ketaclinic.interop import sources
from tests.interop.conftest import parse_r4b

pytestmark = pytest.mark.django_db

LOINC = "http://loinc.org"


def get(client, path):
    return client.get(f"/fhir/R4/{path}")


def ids(bundle):
    return [e["resource"]["id"] for e in bundle.get("entry", [])]


def test_metadata_lists_exactly_what_is_served(client, fhir_validate):
    response = get(client, "metadata")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+json"
    body = response.json()
    assert body["fhirVersion"] == "4.0.1"
    served = {r["type"]: r for r in body["rest"][0]["resource"]}
    assert set(served) == set(sources.TYPES) | {"Questionnaire", "Group"}
    observation = {p["name"]: p["type"] for p in served["Observation"]["searchParam"]}
    assert observation == {
        "_id": "token",
        "_lastUpdated": "date",
        "category": "token",
        "code": "token",
        "date": "date",
        "patient": "reference",
        "subject": "reference",
    }
    assert served["Patient"]["supportedProfile"] == [
        "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"
    ]
    assert fhir_validate([body]) == []


def test_a_physician_reads_a_us_core_patient_and_the_read_is_audited(
    api_client, staff, patient, fhir_validate
):
    response = get(api_client(staff["physician"]), f"Patient/{patient.pk}")
    assert response.status_code == 200
    body = response.json()
    assert body["name"][0] == {"use": "official", "family": "Garcia", "given": ["Maria"]}
    assert body["identifier"][0]["value"] == "MRN000001"
    assert (body["gender"], body["birthDate"]) == ("female", "1984-03-07")
    assert {
        "url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex",
        "valueCode": "F",
    } in body["extension"]
    event = AuditEvent.objects.get(action="fhir_read")
    assert (event.patient_id, event.object_type, event.object_id) == (
        patient.pk,
        "fhir.Patient",
        str(patient.pk),
    )
    assert event.detail == {"fhir_action": "R"}
    assert event.username == "drchen"
    assert fhir_validate([body]) == []
    parse_r4b(body)


def test_vital_signs_by_date_return_that_weeks_readings_in_time_order(
    api_client, staff, patient, record
):
    client = api_client(staff["nurse"])
    response = get(
        client,
        f"Observation?patient={patient.pk}&category=vital-signs&date=ge2026-11-01&date=lt2026-11-08",
    )
    assert response.status_code == 200
    bundle = response.json()
    assert bundle["type"] == "searchset"
    first, second, _ = (r.pk for r in record["readings"])
    assert ids(bundle) == [
        f"vital-{first}-bp",
        f"vital-{first}-hr",
        f"vital-{first}-rr",
        f"vital-{first}-spo2",
        f"vital-{first}-temp",
        f"vital-{second}-bp",
        f"vital-{second}-hr",
    ]
    bp = bundle["entry"][5]["resource"]
    assert [
        (c["code"]["coding"][0]["code"], c["valueQuantity"]["value"]) for c in bp["component"]
    ] == [
        ("8480-6", 146),
        ("8462-4", 91),
    ]
    assert bp["effectiveDateTime"] == "2026-11-02T10:00:00+00:00"
    temp = bundle["entry"][4]["resource"]["valueQuantity"]
    assert temp == {
        "value": 36.6,
        "unit": "Cel",
        "system": "http://unitsofmeasure.org",
        "code": "Cel",
    }


def test_a_heart_rate_search_by_loinc_code_finds_only_heart_rates(
    api_client, staff, patient, record
):
    response = get(
        api_client(staff["nurse"]), f"Observation?patient={patient.pk}&code={LOINC}|8867-4"
    )
    values = [e["resource"]["valueQuantity"]["value"] for e in response.json()["entry"]]
    assert values == [72, 80]


def test_phq9_totals_by_code_come_in_date_order_with_item_9(
    api_client, staff, patient, record, neighbour
):
    client = api_client(staff["therapist"])
    response = get(client, f"Observation?patient={patient.pk}&code={LOINC}|44261-6")
    bundle = response.json()
    assert [e["resource"]["valueQuantity"]["value"] for e in bundle["entry"]] == [16, 8, 3]
    first = bundle["entry"][0]["resource"]
    assert first["category"][0]["coding"][0]["code"] == "survey"
    assert first["derivedFrom"] == [{"reference": f"QuestionnaireResponse/{record['phq9'][0].pk}"}]
    item9 = get(client, f"Observation?patient={patient.pk}&code=44260-8").json()
    assert [e["resource"]["valueInteger"] for e in item9["entry"]] == [1, 0, 0]
    surveys = get(client, f"Observation?patient={patient.pk}&category=survey&date=2026-11").json()
    assert ids(surveys) == [f"score-{record['phq9'][1].pk}", f"score-{record['phq9'][1].pk}-item9",
                            f"score-{record['phq9'][2].pk}", f"score-{record['phq9'][2].pk}-item9"]  # fmt: skip


def test_conditions_carry_snomed_and_icd10cm_and_filter_by_clinical_status(
    api_client, staff, patient, record
):
    client = api_client(staff["physician"])
    everything = get(client, f"Condition?patient={patient.pk}").json()
    mdd = everything["entry"][0]["resource"]
    assert mdd["code"]["coding"] == [
        {
            "system": "http://snomed.info/sct",
            "code": "370143000",
            "display": "Major depressive disorder",
        },
        {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F33.1"},
    ]
    assert len(everything["entry"]) == 2
    active = get(client, f"Condition?patient={patient.pk}&clinical-status=active").json()
    assert ids(active) == [str(record["conditions"][0].pk)]
    problems = get(client, f"Condition?patient={patient.pk}&category=problem-list-item").json()
    assert len(problems["entry"]) == 2


def test_allergies_of_a_patient(api_client, staff, patient, record):
    bundle = get(api_client(staff["nurse"]), f"AllergyIntolerance?patient={patient.pk}").json()
    (allergy,) = [e["resource"] for e in bundle["entry"]]
    assert allergy["code"] == {"text": "Penicillin"}
    assert allergy["reaction"] == [{"manifestation": [{"text": "Hives"}], "severity": "moderate"}]


def test_paging_follows_next_links_to_every_result_once(api_client, staff, patient, record):
    client = api_client(staff["nurse"])
    everything = ids(get(client, f"Observation?patient={patient.pk}&_count=500").json())
    seen, url, pages = [], f"/fhir/R4/Observation?patient={patient.pk}&_count=4", 0
    while url:
        bundle = client.get(url).json()
        seen += ids(bundle)
        pages += 1
        following = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url = None
        if following:
            parts = urlsplit(following[0])
            url = f"{parts.path}?{parts.query}"
    assert seen == everything
    assert pages == -(-len(everything) // 4)
    assert len(everything) == len(set(everything)) == 3 + 7 + 3 + 1 + 2  # scores, vitals, body


def test_include_patient_adds_the_patient_once(api_client, staff, patient, record):
    bundle = get(
        api_client(staff["nurse"]), f"Condition?patient={patient.pk}&_include=Condition:patient"
    ).json()
    modes = [(e["resource"]["resourceType"], e["search"]["mode"]) for e in bundle["entry"]]
    assert modes == [("Condition", "match"), ("Condition", "match"), ("Patient", "include")]


def test_last_updated_and_id_searches(api_client, staff, patient, record):
    client = api_client(staff["nurse"])
    bundle = get(client, f"Observation?_id=vital-{record['readings'][2].pk}-spo2").json()
    assert [e["resource"]["valueQuantity"]["value"] for e in bundle["entry"]] == [97]
    later = get(
        client,
        f"Observation?patient={patient.pk}&category=vital-signs&_lastUpdated=gt2026-11-08&_lastUpdated=lt2026-11-20",
    ).json()
    assert ids(later) == [
        f"vital-{record['readings'][2].pk}-bp",
        f"vital-{record['readings'][2].pk}-spo2",
    ]


def test_another_clinics_resources_answer_404(api_client, outsider, patient, record, stranger):
    client = api_client(outsider)
    for path in (
        f"Patient/{patient.pk}",
        f"Condition/{record['conditions'][0].pk}",
        f"Observation/vital-{record['readings'][0].pk}-bp",
        f"Observation/score-{record['phq9'][0].pk}",
        f"MedicationStatement/{record['medication'].pk}",
    ):
        response = get(client, path)
        assert response.status_code == 404, path
        assert response.json()["resourceType"] == "OperationOutcome"
        assert response.json()["issue"][0]["code"] == "not-found"
    bundle = get(client, f"Observation?patient={patient.pk}").json()
    assert "entry" not in bundle
    own = get(client, "Condition").json()
    assert [e["resource"]["subject"]["reference"] for e in own["entry"]] == [
        f"Patient/{stranger.pk}"
    ]


def test_roles_decide_and_a_refusal_reads_nothing(api_client, staff, patient, record):
    before = AuditEvent.objects.filter(action__startswith="fhir").count()
    desk = api_client(staff["front_desk"])
    refused = get(desk, f"Observation?patient={patient.pk}")
    assert refused.status_code == 403
    assert refused.json()["issue"][0]["code"] == "forbidden"
    assert get(desk, f"Condition/{record['conditions'][0].pk}").status_code == 403
    assert AuditEvent.objects.filter(action__startswith="fhir").count() == before
    assert get(desk, f"Patient/{patient.pk}").status_code == 200
    assert get(api_client(staff["physician"]), "AuditEvent").status_code == 403
    assert get(api_client(staff["admin"]), "AuditEvent").status_code == 200
    anonymous = get(Client(), f"Patient/{patient.pk}")
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"].startswith("Bearer")


def test_each_search_is_audited_per_patient_found(api_client, staff, patient, record, neighbour):
    get(api_client(staff["nurse"]), f"Observation?code={LOINC}|44261-6")
    events = AuditEvent.objects.filter(action="fhir_search").order_by("patient_id")
    assert [(e.patient_id, e.object_type, e.detail["matches"]) for e in events] == [
        (patient.pk, "fhir.Observation", 4),
        (neighbour.pk, "fhir.Observation", 4),
    ]


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("Observation?patinet=1", "patinet"),
        ("Observation?date=2026-13-01", "date"),
        ("Observation?date=yesterday", "date"),
        ("Observation?_count=many", "_count"),
        ("Condition?_include=Condition:encounter", "_include"),
        ("Observation?patient=Group/3", "patient"),
        ("Patient?_format=xml", "_format"),
    ],
)
def test_a_search_the_server_cannot_answer_is_refused_naming_the_parameter(
    api_client, staff, patient, query, named
):
    response = get(api_client(staff["physician"]), query)
    assert response.status_code == 400
    issue = response.json()["issue"][0]
    assert issue["code"] == "invalid"
    assert issue["diagnostics"].startswith(named)


def test_unknown_types_and_ids_answer_operation_outcomes(api_client, staff):
    client = api_client(staff["physician"])
    assert get(client, "Basic").status_code == 404
    assert get(client, "Patient/999999").status_code == 404
    assert get(client, "Patient/not-a-number").status_code == 404
    assert get(client, "Observation/vital-1-xx").status_code == 404
    assert client.post("/fhir/R4/Patient", {}).status_code == 405


def test_the_session_as_administration_adverse_event_encounter_and_procedure(
    api_client, staff, patient, record, fhir_validate
):
    client = api_client(staff["nurse"])
    bundle = get(client, f"MedicationAdministration?patient={patient.pk}").json()
    (given,) = [e["resource"] for e in bundle["entry"]]
    medication = given["contained"][0]
    assert medication["code"]["coding"] == [
        {
            "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
            "code": "6130",
            "display": "ketamine",
        }
    ]
    assert medication["batch"] == {"lotNumber": "KX2407"}
    assert given["dosage"]["dose"] == {
        "value": 35,
        "unit": "mg",
        "system": "http://unitsofmeasure.org",
        "code": "mg",
    }
    assert given["dosage"]["route"]["coding"][0]["code"] == "IVINFUS"
    assert given["effectivePeriod"] == {
        "start": "2026-11-02T09:20:00+00:00",
        "end": "2026-11-02T10:00:00+00:00",
    }
    (adverse,) = [
        e["resource"] for e in get(client, f"AdverseEvent?subject={patient.pk}").json()["entry"]
    ]
    assert adverse["event"]["text"] == "Hypertension"
    assert adverse["outcome"]["coding"][0]["code"] == "resolved"
    assert adverse["suspectEntity"] == [
        {"instance": {"reference": f"Procedure/{record['sessions'][0].pk}"}}
    ]
    assert "note" not in adverse  # the nurse's free text stays in the chart
    encounters = get(client, f"Encounter?patient={patient.pk}").json()
    procedures = get(client, f"Procedure?patient={patient.pk}").json()
    assert len(encounters["entry"]) == len(procedures["entry"]) == 2
    resources = [given, adverse] + [
        e["resource"] for e in encounters["entry"] + procedures["entry"]
    ]
    assert fhir_validate(resources) == []


def test_every_model_read_is_on_the_whitelist():
    """New kinds of data (psychotherapy notes, journals) reach FHIR only by being added here."""
    read = {
        kind: sorted(s.model._meta.label for s in spec.sources)
        for kind, spec in sources.TYPES.items()
    }
    assert read == {
        "Patient": ["patients.Patient"],
        "Condition": ["patients.Condition"],
        "AllergyIntolerance": ["patients.Allergy"],
        "MedicationStatement": ["patients.Medication"],
        "Observation": [
            "measures.Response",
            "patients.Patient",
            "treatment.Observation",
            "treatment.VitalReading",
        ],
        "QuestionnaireResponse": ["measures.Response"],
        "Encounter": ["scheduling.Appointment"],
        "Procedure": ["treatment.TreatmentSession"],
        "MedicationAdministration": ["treatment.Administration"],
        "AdverseEvent": ["treatment.AdverseEvent"],
        "Consent": ["screening.Consent"],
        "Appointment": ["scheduling.Appointment"],
        "Practitioner": ["accounts.Membership"],
        "Organization": ["accounts.Clinic"],
        "Location": ["scheduling.Room"],
        "AuditEvent": ["audit.AuditEvent"],
    }


@pytest.mark.parametrize(
    "query",
    [
        "Patient?name=%00",
        "Patient?name=" + "x" * 10_000,
        "Patient?identifier=%00%00",
        "Patient?birthdate=9999-12-31",
        "Observation?date=ge9999-12-31T23:59:59Z",
        "Observation?date=0001-01-01",
        "Observation?_count=99999999999999999999",
        "Observation?_offset=99999999",
        "Observation?_count=0",
        "Observation?patient=99999999999999999999999",
        "Observation?code=%3Cscript%3E",
        "Observation?_lastUpdated=gt2026-02-30",
        "Condition?clinical-status=%00",
        "QuestionnaireResponse?questionnaire=phq9-99999999999999999999",
        "Patient/" + "9" * 40,
        "Observation/score-" + "9" * 30,
        "Observation/%00",
    ],
)
def test_hostile_input_never_answers_500(api_client, staff, patient, record, query):
    response = get(api_client(staff["admin"]), query)
    assert response.status_code in (200, 400, 403, 404)
    assert response["Content-Type"] == "application/fhir+json"


def test_a_search_costs_the_same_queries_however_long_the_history(
    api_client, staff, patient, record
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.interop.conftest import _reading, at

    client = api_client(staff["nurse"])
    url = f"Observation?patient={patient.pk}&_count=500"

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert get(client, url).status_code == 200
        return len(captured)

    queries()  # the token's first use of the minute is recorded once
    before = queries()
    session = record["sessions"][1]
    for minute in range(40):
        _reading(session, staff["nurse"], at("2026-11-09", f"10:{minute:02d}"), heart_rate=70)
    assert queries() == before
