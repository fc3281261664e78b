"""Automatic MRNs come from a per-clinic counter: never a collision, never a scan (issue 14)."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.services import add_clinic
from ketaclinic.patients import services
from ketaclinic.patients.models import MrnCounter, Patient

NEW = {
    "given_name": "Omar",
    "family_name": "Haddad",
    "birth_date": date(1990, 5, 1),
    "sex_at_birth": "male",
}


def register(membership, **fields) -> Patient:
    return services.create_patient(
        actor=Actor(user=membership.user, membership=membership), data={**NEW, **fields}
    )


@pytest.mark.django_db(transaction=True)
def test_two_hundred_registrations_at_the_same_moment_all_succeed_with_distinct_mrns(staff):
    barrier = threading.Barrier(20)
    failures: list[str] = []

    def front_desk_registers(n: int) -> None:
        try:
            for i in range(10):
                if i == 0:
                    barrier.wait()
                register(staff["front_desk"], given_name=f"Walk-in {n}-{i}")
        except Exception as exc:  # noqa: BLE001 - every failure is the finding
            failures.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=front_desk_registers, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    mrns = sorted(Patient.objects.values_list("mrn", flat=True))
    assert mrns == [f"MRN{n:06d}" for n in range(1, 201)]
    assert MrnCounter.objects.get(clinic=staff["front_desk"].clinic).last_number == 200


@pytest.mark.django_db
def test_the_next_mrn_costs_the_same_queries_and_reads_no_other_mrn(staff):
    register(staff["nurse"])
    with CaptureQueriesContext(connection) as few:
        register(staff["nurse"])
    for n in range(40):
        register(staff["nurse"], given_name=f"Patient {n}")
    with CaptureQueriesContext(connection) as many:
        patient = register(staff["nurse"])
    assert patient.mrn == "MRN000043"
    assert len(many) == len(few)
    assert not [q for q in many.captured_queries if "LIKE" in q["sql"] or "GLOB" in q["sql"]]


@pytest.mark.django_db
def test_a_hand_entered_mrn_of_the_automatic_form_moves_the_counter_past_it(staff):
    assert register(staff["front_desk"]).mrn == "MRN000001"
    assert register(staff["front_desk"], mrn="MRN000050").mrn == "MRN000050"
    assert register(staff["front_desk"]).mrn == "MRN000051"
    # Other forms cannot collide with an automatic MRN and leave the counter alone.
    register(staff["front_desk"], mrn="MRN0000900")
    register(staff["front_desk"], mrn="HA-7731")
    assert register(staff["front_desk"]).mrn == "MRN000052"


@pytest.mark.django_db
def test_editing_an_mrn_to_the_automatic_form_moves_the_counter_past_it(staff):
    actor = Actor(user=staff["nurse"].user, membership=staff["nurse"])
    patient = register(staff["nurse"])
    services.update_patient(actor=actor, patient=patient, data={"mrn": "MRN000300"})
    assert register(staff["nurse"]).mrn == "MRN000301"


@pytest.mark.django_db
def test_a_row_written_around_the_counter_does_not_refuse_the_next_registration(staff, clinic):
    register(staff["front_desk"])
    Patient.objects.create(clinic=clinic, mrn="MRN000002", **NEW)  # an import, a script
    patient = register(staff["front_desk"])
    assert patient.mrn == "MRN000003"
    assert Patient.objects.filter(clinic=clinic).count() == 3


@pytest.mark.django_db
def test_each_clinic_counts_its_own_mrns(staff, outsider):
    register(staff["front_desk"])
    register(staff["front_desk"])
    assert register(outsider).mrn == "MRN000001"


@pytest.mark.django_db(transaction=True)
def test_the_upgrade_starts_each_counter_past_the_mrns_already_given(latest_schema_after):
    executor = MigrationExecutor(connection)
    executor.migrate([("patients", "0003_refold_search_keys")])
    harbor = add_clinic(slug="harbor", name="Harbor Light", timezone="America/New_York")
    empty = add_clinic(slug="quiet", name="Quiet", timezone="America/New_York")
    # The patient table as it was then (later migrations add columns).
    old_patient = executor.loader.project_state(
        ("patients", "0003_refold_search_keys")
    ).apps.get_model("patients", "Patient")
    for mrn in ("MRN000007", "MRN000012", "MRN0000999", "HA00001"):
        old_patient.objects.create(
            clinic_id=harbor.pk, mrn=mrn, family_key="haddad", given_key="omar", **NEW
        )
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert MrnCounter.objects.get(clinic=harbor).last_number == 12
    assert MrnCounter.objects.get(clinic=empty).last_number == 0
