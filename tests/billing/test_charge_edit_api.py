"""PATCH /api/v1/charges/{id}: the API twin of the visit page's line edit, as every role,
with valid, empty and hostile input; the page's form with the same inputs."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from ketaclinic.accounts.services import add_staff
from ketaclinic.audit.models import AuditEvent
from ketaclinic.billing import services
from ketaclinic.billing.models import Charge, ChargeChange
from tests.conftest import PASSWORD
from tests.unchanged import nothing_changed

from .conftest import actor, code, cover, signed_session

pytestmark = pytest.mark.django_db
HOSTILE = "<script>alert(1)</script>\x00' OR 1=1 --"
EDIT = {"code": "99214", "modifiers": ["25"], "units": "1", "diagnosis_pointers": [1], "version": 1}


@pytest.fixture
def visit(clinic, staff, patient, billing):
    code(patient)
    cover(patient, billing["commercial"])
    appt = signed_session(clinic, patient, staff, drug="esketamine", route="intranasal", mg=56)
    services.propose_for_appointment(appt)
    return appt


@pytest.fixture
def line(visit):
    return Charge.objects.filter(appointment=visit).order_by("position").last()  # 99213


def patch(client, charge_id, body):
    return client.patch(
        f"/api/v1/charges/{charge_id}", json.dumps(body), content_type="application/json"
    )


def test_a_biller_edits_a_line_with_a_reason_and_the_change_is_kept(api_client, staff, line):
    answer = patch(api_client(staff["biller"]), line.pk, {**EDIT, "reason": "Documented level 4"})
    assert answer.status_code == 200
    body = answer.json()
    assert (body["id"], body["code"], body["modifiers"], body["units"]) == (
        line.pk,
        "99214",
        ["25"],
        "1.00",
    )
    assert (body["diagnosis_pointers"], body["price"], body["status"]) == ([1], None, "proposed")
    changes = {c.field: (c.old_value, c.new_value, c.reason) for c in ChargeChange.objects.all()}
    assert changes == {
        "code": ("99213", "99214", "Documented level 4"),
        "modifiers": ("", "25", "Documented level 4"),
    }
    event = AuditEvent.objects.get(action="charge_edit")
    assert (event.user_id, event.patient_id, event.detail["fields"]) == (
        staff["biller"].user_id,
        line.patient_id,
        ["code", "modifiers"],
    )


def test_an_approved_line_edited_goes_back_to_review(api_client, staff, visit):
    line = Charge.objects.filter(appointment=visit).order_by("position").first()  # J0013
    services.approve_charge(actor=actor(staff["biller"]), charge=line)
    answer = patch(
        api_client(staff["admin"]), line.pk, {"units": "28", "reason": "28 mg given", "version": 2}
    )
    assert answer.status_code == 200
    assert (answer.json()["units"], answer.json()["status"], answer.json()["price"]) == (
        "28.00",
        "proposed",
        "280.00",
    )
    line.refresh_from_db()
    assert (line.status, line.approved_by_id) == ("proposed", None)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"reason": ""},
        {"reason": "   ", "code": "99214"},
        EDIT,
        {**EDIT, "reason": HOSTILE * 20},
        {"code": HOSTILE, "reason": "x"},
        {"code": "99 14", "reason": "x"},
        {"code": None, "reason": "x"},
        {"modifiers": [HOSTILE], "reason": "x"},
        {"modifiers": ["25", "59", "76", "77", "GT"], "reason": "x"},
        {"modifiers": "25", "reason": "x"},
        {"units": "0", "reason": "x"},
        {"units": "0.001", "reason": "x"},
        {"units": "-1", "reason": "x"},
        {"units": "1e9", "reason": "x"},
        {"units": "NaN", "reason": "x"},
        {"units": HOSTILE, "reason": "x"},
        {"ndc": "123", "reason": "x"},
        {"ndc_quantity": "-2", "reason": "x"},
        {"diagnosis_pointers": [7], "reason": "x"},
        {"diagnosis_pointers": [], "reason": "x"},
        {"diagnosis_pointers": [0], "reason": "x"},
        {"price": "0.00", "reason": "x"},
        {"status": "approved", "reason": "x"},
        {"units": "2", "reason": "x", "version": 0},
        {"units": "2", "reason": "x", "version": "one"},
        {"units": "2", "reason": "x", "version": None},
    ],
)
def test_empty_or_hostile_input_is_422_and_changes_nothing(api_client, staff, line, body):
    client = api_client(staff["biller"])
    with nothing_changed(Charge):
        answer = patch(client, line.pk, {"version": 1, **body} if body else body)
    assert answer.status_code == 422, body
    assert "detail" in answer.json()


def test_roles_without_review_are_refused_and_nothing_changes(api_client, staff, line):
    for role in ("physician", "nurse", "therapist", "front_desk"):
        client = api_client(staff[role])
        with nothing_changed(Charge):
            answer = patch(client, line.pk, {**EDIT, "reason": "x"})
        assert answer.status_code == 403, role
    anonymous = patch(Client(), line.pk, {**EDIT, "reason": "x"})
    assert anonymous.status_code == 401


def test_another_clinics_biller_gets_404_and_missing_lines_404(api_client, other_clinic, line):
    stranger = add_staff(username="nbiller", clinic=other_clinic, role="biller", password=PASSWORD)
    client = api_client(stranger)
    with nothing_changed(Charge):
        assert patch(client, line.pk, {**EDIT, "reason": "x"}).status_code == 404
    assert patch(client, 999999, {**EDIT, "reason": "x"}).status_code == 404


def test_a_line_on_a_sent_claim_or_void_cannot_be_edited(api_client, staff, visit):
    lines = list(Charge.objects.filter(appointment=visit))
    for charge in lines:
        services.approve_charge(actor=actor(staff["biller"]), charge=charge)
    claim = services.create_claim(actor=actor(staff["biller"]), charge_ids=[c.pk for c in lines])
    services.set_claim_status(actor=actor(staff["biller"]), claim=claim, status="ready")
    client = api_client(staff["biller"])
    with nothing_changed(Charge):
        answer = patch(client, lines[0].pk, {"units": "28", "reason": "x", "version": 2})
    assert answer.status_code == 422 and "on a claim" in json.dumps(answer.json())


def test_the_page_form_as_every_role_with_valid_empty_and_hostile_input(login, staff, line):
    url = f"/billing/visits/{line.appointment_id}/"
    form = {
        "action": "edit",
        "charge": line.pk,
        "code": "99214",
        "modifiers": "25",
        "units": "1",
        "ndc": "",
        "ndc_quantity": "",
        "diagnosis_pointers": "1",
        "reason": "Documented level 4",
        "version": 1,
    }
    for role in ("physician", "nurse", "therapist", "front_desk"):
        client = login(staff[role])
        with nothing_changed(Charge):
            assert client.post(url, form).status_code == 403, role
    biller = login(staff["biller"])
    for bad in (
        {"action": "edit", "charge": line.pk},
        {**form, "units": "0.001"},
        {**form, "units": HOSTILE},
        {**form, "modifiers": HOSTILE},
        {**form, "ndc": HOSTILE},
        {**form, "version": HOSTILE},
        {**form, "version": ""},
    ):
        # The page is shown again with the error (its read is audited): no line changed.
        assert biller.post(url, bad).status_code == 422, bad
    line.refresh_from_db()
    assert (line.code, line.units) == ("99213", 1)
    assert not ChargeChange.objects.exists()
    assert not AuditEvent.objects.filter(action="charge_edit").exists()
    assert login(staff["admin"]).post(url, form).status_code == 302
    line.refresh_from_db()
    assert (line.code, line.modifiers) == ("99214", ["25"])


def test_two_billers_editing_the_same_line_the_second_gets_409_and_nothing_is_lost(
    api_client, staff, line
):
    first, second = api_client(staff["biller"]), api_client(staff["admin"])
    loaded = {
        c["id"]: c
        for c in first.get(f"/api/v1/appointments/{line.appointment_id}/charges").json()["lines"]
    }
    assert loaded[line.pk]["version"] == 1
    saved = patch(first, line.pk, {"code": "99214", "reason": "Level 4", "version": 1})
    assert (saved.status_code, saved.json()["version"]) == (200, 2)
    with nothing_changed(Charge):
        stale = patch(second, line.pk, {"code": "99215", "reason": "Level 5", "version": 1})
    assert stale.status_code == 409
    assert stale.json() == {
        "detail": "Another biller changed this 99214 line since you loaded it (your version 1, "
        "now 2). Reload it, check their change, and make yours again."
    }
    line.refresh_from_db()
    assert (line.code, line.version) == ("99214", 2)
    assert list(ChargeChange.objects.values_list("new_value", flat=True)) == ["99214"]
    assert AuditEvent.objects.filter(action="charge_edit").count() == 1


def test_the_version_may_come_as_if_match(api_client, staff, line):
    client = api_client(staff["biller"])

    def send(tag, body):
        return client.patch(
            f"/api/v1/charges/{line.pk}",
            json.dumps(body),
            content_type="application/json",
            HTTP_IF_MATCH=tag,
        )

    assert send('"1"', {"units": "2", "reason": "Two"}).json()["version"] == 2
    assert send('W/"2"', {"units": "3", "reason": "Three"}).json()["version"] == 3
    with nothing_changed(Charge):
        assert send('"2"', {"units": "4", "reason": "Four"}).status_code == 409
        assert send('"3"', {"units": "4", "reason": "x", "version": 2}).status_code == 422
        assert send("*", {"units": "4", "reason": "x"}).status_code == 422
        missing = patch(client, line.pk, {"units": "4", "reason": "x"})
    assert missing.status_code == 422 and "version" in json.dumps(missing.json())


def test_the_page_shows_the_conflict_and_keeps_what_the_second_biller_typed(login, staff, line):
    url = f"/billing/visits/{line.appointment_id}/"
    form = {
        "action": "edit",
        "charge": line.pk,
        "code": "99214",
        "modifiers": "",
        "units": "1",
        "ndc": "",
        "ndc_quantity": "",
        "diagnosis_pointers": "1",
        "reason": "Level 4",
        "version": 1,
    }
    assert login(staff["biller"]).post(url, form).status_code == 302
    typed = {**form, "code": "99215", "modifiers": "25", "reason": "Level 5 documented"}
    answer = login(staff["admin"]).post(url, typed)
    assert answer.status_code == 409
    line.refresh_from_db()
    assert (line.code, line.modifiers, line.version) == ("99214", [], 2)
    assert ChargeChange.objects.count() == 1
    page = answer.content.decode()
    assert "Another biller changed this 99214 line since you loaded it" in page
    for kept in ('value="99215"', 'value="25"', 'value="Level 5 documented"'):
        assert kept in page, kept
    # The form now carries the current version: saving again (after reading) goes through.
    assert 'name="version" value="2"' in page
    assert login(staff["admin"]).post(url, {**typed, "version": 2}).status_code == 302
    line.refresh_from_db()
    assert (line.code, line.modifiers, line.version) == ("99215", ["25"], 3)
