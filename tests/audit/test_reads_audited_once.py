"""A read is audited where the record is fetched (accounts.access.get_for), exactly once.

A page and its API twin each write one read event for the record they show: neither the
view nor the handler writes its own, so a read is never missed and never counted twice.
"""

from __future__ import annotations

import pytest

from ketaclinic.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def _reads(patient) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="view", patient_id=patient.pk).order_by("pk"))


def test_the_chart_page_writes_one_read_event(staff, patient, login):
    response = login(staff["nurse"]).get(f"/patients/{patient.pk}/")
    assert response.status_code == 200
    [event] = _reads(patient)
    assert event.object_type == "patients.patient" and event.object_id == str(patient.pk)
    assert event.detail == {"view": "chart"}
    assert event.user_id == staff["nurse"].user_id


def test_the_charts_api_twin_writes_one_read_event(staff, patient, api_client):
    response = api_client(staff["nurse"]).get(f"/api/v1/patients/{patient.pk}")
    assert response.status_code == 200
    [event] = _reads(patient)
    assert event.object_type == "patients.patient" and event.detail == {"view": "api"}
    assert event.via_token is not None


def test_a_chart_list_in_the_api_is_one_read_event(staff, patient, api_client):
    response = api_client(staff["physician"]).get(f"/api/v1/patients/{patient.pk}/conditions")
    assert response.status_code == 200
    [event] = _reads(patient)
    assert event.detail == {"view": "condition"}


@pytest.mark.parametrize("path", ["/patients/{id}/", "/api/v1/patients/{id}"])
def test_a_refused_or_missing_chart_writes_no_read_event(
    staff, patient, outsider, login, api_client, path
):
    url = path.format(id=patient.pk)
    client = login(outsider) if not url.startswith("/api") else api_client(outsider)
    assert client.get(url).status_code == 404
    assert _reads(patient) == []


def test_opening_the_edit_form_is_a_read_and_saving_is_not_another(staff, patient, login):
    client = login(staff["front_desk"])
    assert client.get(f"/patients/{patient.pk}/edit/").status_code == 200
    assert [e.detail for e in _reads(patient)] == [{"view": "edit"}]


def test_the_chart_sections_are_read_by_the_view_and_audit_nothing_more(staff, patient, login):
    """Every section other apps add is in the view's context, read by its app."""
    response = login(staff["physician"]).get(f"/patients/{patient.pk}/")
    sections = response.context["sections"]
    assert set(sections) == {
        "measures",
        "screening",
        "scheduling",
        "treatment",
        "integration",
        "portal",
        "website",
    }
    assert sections["treatment"]["sessions"] == []
    assert sections["portal"] == {"summaries": []}
    assert len(_reads(patient)) == 1


def test_a_role_that_does_not_chart_gets_no_clinical_sections(staff, patient, login):
    response = login(staff["front_desk"]).get(f"/patients/{patient.pk}/")
    sections = response.context["sections"]
    assert sections["treatment"] is None and sections["integration"] is None
    assert sections["website"] is None  # story authorizations are for clinicians
    assert sections["portal"] is None  # releasing session summaries is for who charts them
    assert "rows" not in (sections["measures"] or {})
