"""Every FHIR resource type, read and searched by every role, answers as the role table says."""

from __future__ import annotations

import pytest
from django.test import Client

from ketaclinic.accounts.roles import may
from ketaclinic.audit.models import AuditEvent
from ketaclinic.interop import bulk, sources
from tests.conftest import ROLES

pytestmark = pytest.mark.django_db

TYPES = [(name, kind.action) for name, kind in sources.TYPES.items()] + [
    ("Questionnaire", sources.QUESTIONNAIRE_ACTION),
    ("Group", bulk.EXPORT_ACTION),
]


@pytest.mark.parametrize(("name", "action"), TYPES, ids=[t[0] for t in TYPES])
def test_each_role_searches_a_type_as_the_role_table_says(name, action, staff, patient, api_client):
    for role in ROLES:
        before = AuditEvent.objects.filter(action="fhir_search").count()
        response = api_client(staff[role]).get(f"/fhir/R4/{name}")
        if may(role, action):
            assert response.status_code == 200, f"{role} refused {name}"
            assert response.json()["resourceType"] == "Bundle"
        else:
            assert response.status_code == 403, f"{role} allowed {name}"
            assert response.json()["resourceType"] == "OperationOutcome"
            assert AuditEvent.objects.filter(action="fhir_search").count() == before
    assert Client().get(f"/fhir/R4/{name}").status_code == 401
    assert Client().get(f"/fhir/R4/{name}/1").status_code == 401


def test_the_export_and_its_status_are_for_admins_only(staff, api_client):
    for role in ROLES:
        client = api_client(staff[role])
        kick_off = client.get("/fhir/R4/$export", HTTP_PREFER="respond-async")
        group = client.get("/fhir/R4/Group/esketamine-nasal/$export", HTTP_PREFER="respond-async")
        patients = client.get("/fhir/R4/Patient/$export", HTTP_PREFER="respond-async")
        expected = 202 if may(role, bulk.EXPORT_ACTION) else 403
        assert {kick_off.status_code, group.status_code, patients.status_code} == {expected}, role
    assert Client().get("/fhir/R4/$export", HTTP_PREFER="respond-async").status_code == 401
