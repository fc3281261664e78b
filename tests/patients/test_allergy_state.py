"""The header's allergy answer: a list, "no known allergies" (NKDA), the intake's words, or nothing.

And the intake's weight reaches the header, so a nurse does not weigh twice.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from ketaclinic.accounts.access import Actor
from ketaclinic.audit.models import AuditEvent
from ketaclinic.patients.allergies import says_none
from ketaclinic.patients.models import Allergy, Patient
from ketaclinic.screening import services as screening

pytestmark = pytest.mark.django_db


def header(client, patient) -> str:
    html = client.get(f"/patients/{patient.pk}/").content.decode()
    return html.split('<section class="patient-header"', 1)[1].split("</section>", 1)[0]


def nurse_of(staff) -> Actor:
    return Actor(staff["nurse"].user, staff["nurse"])


def test_a_new_patient_reads_not_recorded_until_nkda_is_recorded(staff, patient, login):
    client = login(staff["nurse"])
    assert "? Allergies not recorded" in header(client, patient)

    response = client.post(f"/patients/{patient.pk}/allergies/none-known/", follow=True)

    assert "Recorded: no known allergies." in response.content.decode()
    shown = header(client, patient)
    assert "✓ No known allergies" in shown and "not recorded" not in shown
    assert AuditEvent.objects.filter(action="update", detail__allergies="nkda").count() == 1


def test_adding_an_allergy_ends_nkda(staff, patient, login):
    client = login(staff["nurse"])
    client.post(f"/patients/{patient.pk}/allergies/none-known/")
    client.post(
        f"/patients/{patient.pk}/allergy/add/",
        {"substance": "Latex", "reaction": "hives", "severity": "moderate"},
    )
    patient.refresh_from_db()
    assert patient.no_known_allergies is False
    shown = header(client, patient)
    assert "⚠ Allergies: Latex" in shown and "No known allergies" not in shown


def test_nkda_is_refused_while_an_allergy_is_listed_and_nothing_changes(staff, patient, login):
    Allergy.objects.create(clinic=patient.clinic, patient=patient, substance="Penicillin")
    client = login(staff["nurse"])
    response = client.post(f"/patients/{patient.pk}/allergies/none-known/", follow=True)
    assert "mark it inactive first" in response.content.decode()
    patient.refresh_from_db()
    assert patient.no_known_allergies is False
    assert not AuditEvent.objects.filter(detail__allergies="nkda").exists()


@pytest.mark.parametrize("role", ["front_desk", "therapist", "admin"])
def test_only_those_who_chart_record_nkda(role, staff, patient, login):
    response = login(staff[role]).post(f"/patients/{patient.pk}/allergies/none-known/")
    assert response.status_code == 403
    patient.refresh_from_db()
    assert patient.no_known_allergies is False


def test_another_clinics_patient_is_not_found(outsider, patient, login):
    response = login(outsider).post(f"/patients/{patient.pk}/allergies/none-known/")
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("text", "none"),
    [
        ("None", True),
        ("NKDA", True),
        ("no known allergies", True),
        (" No  known drug allergies. ", True),
        ("nil", True),
        ("Penicillin (rash)", False),
        ("none except latex", False),
    ],
)
def test_it_reads_none_only_when_the_answer_says_none(text, none):
    assert says_none(text) is none


def test_the_intakes_allergy_answer_reaches_the_header(staff, patient, login):
    screening.save_intake(
        actor=nurse_of(staff), patient=patient, data={"allergies": "Penicillin — rash"}
    )
    shown = header(login(staff["physician"]), patient)
    assert "⚠ Allergies reported at intake: Penicillin — rash" in shown
    assert "not recorded" not in shown


def test_an_intake_saying_none_records_nkda(staff, patient, login):
    screening.save_intake(actor=nurse_of(staff), patient=patient, data={"allergies": "NKDA"})
    patient.refresh_from_db()
    assert patient.no_known_allergies is True
    assert "✓ No known allergies" in header(login(staff["physician"]), patient)


def test_a_patient_reporting_an_allergy_by_link_ends_nkda(staff, patient, client):
    patient.no_known_allergies = True
    patient.save()
    _, token = screening.create_intake_link(actor=nurse_of(staff), patient=patient)
    screening.submit_intake_link(token=token, data={"allergies": "Sulfa drugs"}, ip=None)
    patient.refresh_from_db()
    assert (patient.no_known_allergies, patient.allergies_reported) == (False, "Sulfa drugs")


def test_the_intakes_weight_reaches_the_header_when_newer(staff, patient, login):
    # The fixture's weight was measured on 20 Nov 2026; an intake today is newer.
    screening.save_intake(
        actor=nurse_of(staff), patient=patient, data={"weight_kg": 72.4, "height_cm": 168}
    )
    patient.refresh_from_db()
    assert (patient.weight_kg, patient.height_cm) == (Decimal("72.4"), Decimal("168.0"))
    assert patient.weight_measured_on == patient.clinic.today()
    assert "Weight 72.4 kg" in header(login(staff["nurse"]), patient)


def test_an_older_intake_does_not_undo_a_later_weighing(staff, patient):
    Patient.objects.filter(pk=patient.pk).update(weight_measured_on=date(2099, 1, 1))
    screening.save_intake(actor=nurse_of(staff), patient=patient, data={"weight_kg": 90})
    patient.refresh_from_db()
    assert patient.weight_kg == Decimal("70.0")


def test_the_api_records_nkda_and_refuses_it_over_a_listed_allergy(staff, patient, api_client):
    client = api_client(staff["physician"])
    state = client.get(f"/api/v1/patients/{patient.pk}/allergy-state").json()
    assert state == {"no_known_allergies": False, "allergies_reported": "", "active": []}
    done = client.post(f"/api/v1/patients/{patient.pk}/allergies/none-known")
    assert done.status_code == 200 and done.json()["no_known_allergies"] is True

    Allergy.objects.create(clinic=patient.clinic, patient=patient, substance="Iodine")
    Patient.objects.filter(pk=patient.pk).update(no_known_allergies=False)
    refused = client.post(f"/api/v1/patients/{patient.pk}/allergies/none-known")
    assert refused.status_code == 422
    assert "no_known_allergies" in str(refused.json()["detail"])
    patient.refresh_from_db()
    assert patient.no_known_allergies is False
