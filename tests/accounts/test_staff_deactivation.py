"""Removing someone's access is one service in one transaction, with its audit event.

The page (/staff/<id>/deactivate/) and the API (/api/v1/staff/<id>/deactivate) both call
accounts.services.deactivate_staff; every refusal leaves the database as it was.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from ketaclinic.accounts import services as accounts
from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import ApiToken, Membership
from ketaclinic.accounts.services import add_staff
from ketaclinic.audit import services as audit_services
from ketaclinic.audit.models import AuditEvent
from tests.unchanged import nothing_changed

pytestmark = pytest.mark.django_db

NOT_ADMINS = ["physician", "nurse", "therapist", "front_desk"]


def _deactivations(membership: Membership) -> int:
    return AuditEvent.objects.filter(action="deactivate", object_id=str(membership.pk)).count()


def test_the_page_removes_access_revokes_every_token_and_writes_one_event(staff, login):
    nurse = staff["nurse"]
    ApiToken.issue(nurse, name="tablet")
    ApiToken.issue(nurse, name="laptop")
    response = login(staff["admin"]).post(f"/staff/{nurse.pk}/deactivate/")
    assert response.status_code == 302
    nurse.refresh_from_db()
    assert nurse.is_active is False
    assert not ApiToken.objects.filter(membership=nurse, revoked_at__isnull=True).exists()
    event = AuditEvent.objects.get(action="deactivate", object_id=str(nurse.pk))
    assert event.user_id == staff["admin"].user_id
    assert event.detail == {"user": nurse.user_id, "tokens_revoked": 2}


def test_removing_someone_already_removed_writes_no_second_event(staff, login):
    nurse = staff["nurse"]
    admin = login(staff["admin"])
    admin.post(f"/staff/{nurse.pk}/deactivate/")
    with nothing_changed(Membership, ApiToken):
        assert admin.post(f"/staff/{nurse.pk}/deactivate/").status_code == 302
    assert _deactivations(nurse) == 1


@pytest.mark.parametrize("role", NOT_ADMINS)
def test_no_other_role_may_remove_access_and_nothing_changes(staff, login, api_client, role):
    nurse = staff["nurse"] if role != "nurse" else staff["therapist"]
    ApiToken.issue(nurse, name="tablet")
    page, api = login(staff[role]), api_client(staff[role])
    with nothing_changed(Membership, ApiToken):
        assert page.post(f"/staff/{nurse.pk}/deactivate/").status_code == 403
        assert api.post(f"/api/v1/staff/{nurse.pk}/deactivate").status_code == 403


def test_an_admin_cannot_remove_their_own_access(staff, login, api_client):
    admin = staff["admin"]
    page, api = login(admin), api_client(admin)
    with nothing_changed(Membership, ApiToken):
        response = page.post(f"/staff/{admin.pk}/deactivate/", follow=True)
        assert "cannot remove your own access" in response.content.decode()
        assert api.post(f"/api/v1/staff/{admin.pk}/deactivate").status_code == 422
    admin.refresh_from_db()
    assert admin.is_active


def test_another_clinics_member_and_a_patient_are_not_found(
    staff, outsider, patient, login, api_client
):
    patient_member = add_staff(username="maria", clinic=staff["admin"].clinic, role="patient")
    page, api = login(staff["admin"]), api_client(staff["admin"])
    for member in (outsider, patient_member):
        with nothing_changed(Membership, ApiToken):
            assert page.post(f"/staff/{member.pk}/deactivate/").status_code == 404
            assert api.post(f"/api/v1/staff/{member.pk}/deactivate").status_code == 404
        member.refresh_from_db()
        assert member.is_active


def test_the_service_refuses_a_membership_of_another_clinic(staff, outsider):
    actor = Actor(user=staff["admin"].user, membership=staff["admin"])
    with nothing_changed(Membership, ApiToken), pytest.raises(PermissionDenied):
        accounts.deactivate_staff(actor=actor, membership=outsider)


def test_a_failure_while_auditing_undoes_the_whole_removal(staff, monkeypatch):
    """The membership, its tokens and the event commit together or not at all."""
    nurse = staff["nurse"]
    ApiToken.issue(nurse, name="tablet")

    def broken(*args, **kwargs):
        raise RuntimeError("the audit trail is unavailable")

    monkeypatch.setattr(audit_services, "record", broken)
    actor = Actor(user=staff["admin"].user, membership=staff["admin"])
    with nothing_changed(Membership, ApiToken), pytest.raises(RuntimeError):
        accounts.deactivate_staff(actor=actor, membership=nurse)
    nurse.refresh_from_db()
    assert nurse.is_active


def test_the_api_removes_access_like_the_page(staff, api_client):
    nurse = staff["nurse"]
    response = api_client(staff["admin"]).post(f"/api/v1/staff/{nurse.pk}/deactivate")
    assert response.status_code == 200
    assert response.json()["active"] is False
    assert _deactivations(nurse) == 1
    back = api_client(staff["admin"]).post(f"/api/v1/staff/{nurse.pk}/reactivate")
    assert back.json()["active"] is True
    nurse.refresh_from_db()
    assert nurse.is_active
