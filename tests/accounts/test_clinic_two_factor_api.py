"""The clinic's two-factor requirement through the API, as the staff page's settings form."""

from __future__ import annotations

import json

import pytest

from ketaclinic.accounts.models import Clinic
from ketaclinic.audit.models import AuditEvent
from tests.unchanged import nothing_changed

pytestmark = pytest.mark.django_db

URL = "/api/v1/clinic/two-factor"


def put(client, body):
    return client.put(URL, json.dumps(body), content_type="application/json")


def test_an_admin_requires_two_factor_and_it_is_audited(staff, api_client):
    client = api_client(staff["admin"])
    assert client.get(URL).json() == {"required": False, "grace_days": 7, "required_since": None}
    response = put(client, {"required": True, "grace_days": 3})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["required"] is True and body["grace_days"] == 3 and body["required_since"]
    clinic = Clinic.objects.get(pk=staff["admin"].clinic_id)
    assert clinic.require_two_factor and clinic.two_factor_grace_days == 3
    event = AuditEvent.objects.get(action="update", object_type="accounts.clinic")
    assert event.detail == {"require_two_factor": True, "grace_days": 3}


@pytest.mark.parametrize("role", ["physician", "nurse", "therapist", "front_desk"])
def test_no_other_role_reads_or_changes_it(staff, api_client, role):
    client = api_client(staff[role])
    with nothing_changed(Clinic):
        assert client.get(URL).status_code == 403
        assert put(client, {"required": True, "grace_days": 3}).status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"grace_days": 3},
        {"required": True, "grace_days": 31},
        {"required": True, "grace_days": -1},
        {"required": "maybe", "grace_days": 3},
        {"required": True, "grace_days": "3; DROP TABLE accounts_clinic"},
    ],
)
def test_empty_and_hostile_input_changes_nothing(staff, api_client, body):
    client = api_client(staff["admin"])
    with nothing_changed(Clinic):
        assert put(client, body).status_code == 422


def test_each_clinic_sets_its_own(staff, outsider, api_client):
    put(api_client(staff["admin"]), {"required": True, "grace_days": 3})
    other = Clinic.objects.get(pk=outsider.clinic_id)
    assert other.require_two_factor is False
