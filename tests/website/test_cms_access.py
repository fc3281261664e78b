"""Wagtail's admin at /cms/: editors and admins only; never a patient or other staff."""

from __future__ import annotations

import pytest
from django.test import Client

from ketaclinic.accounts.roles import PERMISSIONS, Role

pytestmark = pytest.mark.django_db

CMS_URLS = ["/cms/", "/cms/pages/", "/cms/images/"]


def test_editors_and_admins_open_the_cms(website, editor, staff):
    for member in (editor, staff["admin"]):
        client = Client()
        client.force_login(member.user)
        for url in CMS_URLS:
            assert client.get(url).status_code == 200, url
        assert client.get(f"/cms/pages/{website.article.pk}/edit/").status_code == 200


@pytest.mark.parametrize("role", ["physician", "nurse", "therapist", "front_desk"])
def test_other_staff_are_refused(role, website, staff):
    client = Client()
    client.force_login(staff[role].user)
    for url in CMS_URLS:
        assert client.get(url).status_code == 403, url
    assert not staff[role].user.groups.exists()


def test_a_patient_account_is_refused(website, clinic):
    from ketaclinic.accounts.models import Membership, User

    user = User.objects.create_user(username="portalpatient", password="x" * 14)
    Membership.objects.create(user=user, clinic=clinic, role="patient")
    client = Client()
    client.force_login(user)
    response = client.get("/cms/")
    # A patient account is refused every staff page, the admin included.
    assert response.status_code == 403
    assert not user.groups.exists()


def test_anonymous_visitors_go_to_the_clinic_login(website):
    response = Client().get("/cms/pages/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_a_former_editor_loses_wagtail_access_with_the_role(website, editor):
    client = Client()
    client.force_login(editor.user)
    assert client.get("/cms/").status_code == 200
    assert editor.user.groups.filter(name="Website editors").exists()
    editor.role = "nurse"
    editor.save()
    assert client.get("/cms/").status_code == 403
    assert not editor.user.groups.filter(name="Website editors").exists()


def test_an_editor_has_no_clinical_permission(editor, patient):
    granted = {action for action, roles in PERMISSIONS.items() if Role.EDITOR in roles}
    assert granted == {"website.edit", "comments.moderate"}
    client = Client()
    client.force_login(editor.user)
    assert client.get("/patients/").status_code == 403
    assert client.get(f"/patients/{patient.pk}/").status_code == 403


def test_the_cms_allows_inline_styles_but_not_inline_scripts(website, editor):
    client = Client()
    client.force_login(editor.user)
    policy = client.get("/cms/")["Content-Security-Policy"]
    assert "style-src 'self' 'unsafe-inline'" in policy
    assert "script-src 'self';" in policy + ";"
    assert "frame-ancestors 'self'" in policy
    public = Client().get("/")["Content-Security-Policy"]
    assert "unsafe-inline" not in public and "frame-ancestors 'none'" in public


def test_the_editor_lands_on_the_comments_queue(editor):
    client = Client()
    client.force_login(editor.user)
    assert client.get("/home/")["Location"] == "/website/comments/"
