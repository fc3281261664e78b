"""The patient's history link adds to what staff recorded; it never removes or judges."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.urls import reverse

from ketaclinic.accounts.access import Actor
from ketaclinic.audit.models import AuditEvent
from ketaclinic.screening import services
from ketaclinic.screening.models import IntakeLink, IntakeVersion

pytestmark = pytest.mark.django_db

STAFF_INTAKE = {
    "diagnoses": ["mdd"],
    "trials_asked": True,
    "trials": [
        {
            "drug": "Sertraline",
            "dose": "150 mg",
            "weeks": 8,
            "adequate_dose": True,
            "response": "none",
        },
        {
            "drug": "Venlafaxine",
            "dose": "225 mg",
            "weeks": 8,
            "adequate_dose": True,
            "response": "partial",
        },
    ],
    "history_asked": True,
    "history": ["psychosis_current", "arteriovenous_malformation"],
    "medications_asked": True,
    "medications": ["benzodiazepine", "oral_antidepressant"],
    "allergies": "Penicillin (rash)",
    "systolic_bp": 124,
    "diastolic_bp": 78,
    "heart_rate": 70,
    "weight_kg": 70,
    "height_cm": 165,
    "suicide_risk": "none",
}


@pytest.fixture(autouse=True)
def clear_cache():
    cache.clear()


@pytest.fixture
def nurse(staff):
    return Actor(staff["nurse"].user, staff["nurse"])


@pytest.fixture
def link_url(nurse, patient):
    services.save_intake(actor=nurse, patient=patient, data=STAFF_INTAKE)
    _, token = services.create_intake_link(actor=nurse, patient=patient)
    return reverse("screening_public_intake", args=[token])


def test_a_patients_whole_list_keeps_the_contraindications_staff_recorded(
    client, login, staff, nurse, patient, link_url
):
    # The patient ticks "I have gone through the whole list" with only one item ticked.
    response = client.post(
        link_url,
        {
            "history_asked": "on",
            "history": ["substance_use_history"],
            "medications_asked": "on",
            "medications": ["opioid"],
            "trial_count": "0",
        },
    )
    assert "Thank you" in response.content.decode()
    latest = services.latest_intake(patient)
    assert (latest.version, latest.source) == (2, "patient")
    assert latest.data["history"] == [
        "psychosis_current",
        "substance_use_history",
        "arteriovenous_malformation",
    ]
    assert latest.data["medications"] == ["benzodiazepine", "opioid", "oral_antidepressant"]
    assert latest.patient_added == {
        "history": ["substance_use_history"],
        "medications": ["opioid"],
    }
    screening = services.run_screening(actor=nurse, patient=patient, protocol="esketamine-nasal")
    assert screening.result == "ineligible"
    assert "esk-exclude-avm" in [f["rule"] for f in screening.findings]
    # Staff see what the patient added.
    html = (
        login(staff["nurse"]).get(reverse("screening_intake", args=[patient.pk])).content.decode()
    )
    assert "Added by the patient through the link" in html
    assert "Substance use disorder, past" in html and "Opioid" in html
    event = AuditEvent.objects.get(role="patient")
    assert event.detail == {
        "version": 2,
        "link": IntakeLink.objects.get().pk,
        "added": ["history", "medications"],
    }


def test_the_patients_text_is_added_to_the_staffs(client, patient, link_url):
    client.post(link_url, {"allergies": "None that I know of", "trial_count": "0"})
    latest = services.latest_intake(patient)
    assert latest.data["allergies"] == (
        "Penicillin (rash)\n\nAdded by the patient (link): None that I know of"
    )
    assert latest.patient_added == {"text": ["allergies"]}


def test_the_patient_form_has_no_adequate_dose_and_a_posted_one_is_ignored(
    client, patient, link_url
):
    page = client.get(link_url).content.decode()
    assert "adequate_dose" not in page and "Adequate dose" not in page
    client.post(
        link_url,
        {
            "trials_asked": "on",
            "trial_count": "2",
            "trial-0-drug": "Escitalopram",
            "trial-0-dose": "20 mg",
            "trial-0-weeks": "10",
            "trial-0-adequate_dose": "on",
            "trial-0-response": "none",
            # already on the staff's list, with the clinician's judgement
            "trial-1-drug": "sertraline",
            "trial-1-weeks": "2",
            "trial-1-response": "adequate_response",
        },
    )
    latest = services.latest_intake(patient)
    assert latest.data["trials"] == [
        *STAFF_INTAKE["trials"],
        {
            "drug": "Escitalopram",
            "dose": "20 mg",
            "weeks": 10,
            "adequate_dose": False,
            "response": "none",
        },
    ]
    assert latest.patient_added == {"trials": ["Escitalopram"]}
    # Only the two clinician-judged trials count.
    assert services.facts_for(patient).failed_adequate_trials == 2


def test_the_service_never_stores_a_patients_adequate_dose(patient, nurse):
    _, token = services.create_intake_link(actor=nurse, patient=patient)
    services.submit_intake_link(
        token=token,
        data={
            "trials_asked": True,
            "trials": [
                {"drug": "Sertraline", "weeks": 8, "adequate_dose": True, "response": "none"},
                {"drug": "Bupropion", "weeks": 8, "adequate_dose": True, "response": "none"},
            ],
        },
        ip=None,
    )
    latest = services.latest_intake(patient)
    assert [t["adequate_dose"] for t in latest.data["trials"]] == [False, False]
    assert services.facts_for(patient).failed_adequate_trials == 0


def test_ticked_items_without_the_whole_list_box_are_refused_not_dropped(client, patient, link_url):
    response = client.post(link_url, {"history": ["psychosis_history"], "trial_count": "0"})
    assert response.status_code == 200
    assert "Tick this to send what you filled in" in response.content.decode()
    assert IntakeVersion.objects.count() == 1
    assert IntakeLink.objects.get().used_at is None


def test_the_api_shows_what_the_patient_added(client, api_client, staff, patient, link_url):
    client.post(
        link_url,
        {"history_asked": "on", "pregnancy": ["pregnant"], "trial_count": "0"},
    )
    versions = api_client(staff["nurse"]).get(f"/api/v1/patients/{patient.pk}/intakes").json()
    assert [(v["version"], v["source"], v["patient_added"]) for v in versions] == [
        (2, "patient", {"history": ["pregnant"]}),
        (1, "staff", {}),
    ]
    # The risk was assessed by staff with version 1; the patient's version carries that time.
    assert versions[0]["suicide_risk_assessed_at"] == versions[1]["created_at"]
