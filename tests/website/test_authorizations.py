"""A patient's authorization to publish their story, recorded and revoked from the chart.

Admins, physicians and nurses (the role table's `story.authorize`) see the chart's section,
record an authorization and revoke one; revoking takes every story relying on it off the
website at once. Every other role, an editor, a patient and another clinic get nothing.
"""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone

from ketaclinic.accounts.roles import may
from ketaclinic.audit.models import AuditEvent
from ketaclinic.patients.models import Patient
from ketaclinic.website.models import StoryAuthorization, StoryPage
from tests.conftest import ROLES
from tests.portal.conftest import make_account
from tests.unchanged import nothing_changed

pytestmark = pytest.mark.django_db

SCOPE = "My story of the first course, under a changed name, no photograph."


def _today() -> date:
    # The clinic's own date (New York), which decides whether a signing date is in the future.
    return timezone.localdate(timezone=ZoneInfo("America/New_York"))


def _valid(**overrides) -> dict[str, str]:
    data = {
        "scope": SCOPE,
        "signed_on": (_today() - timedelta(days=2)).isoformat(),
        "expires_on": (_today() + timedelta(days=365)).isoformat(),
    }
    data.update(overrides)
    return data


def _record_url(patient) -> str:
    return f"/patients/{patient.pk}/story-authorizations/"


def _revoke_url(authorization) -> str:
    return f"/story-authorizations/{authorization.pk}/revoke/"


def _story_is_live(website) -> bool:
    return StoryPage.objects.get(pk=website.story.pk).live


@pytest.fixture
def everyone(staff, editor, patient):
    """Each staff role, the website editor, and the patient's own portal account."""
    people = {role: staff[role] for role in ROLES}
    people["editor"] = editor
    patient.email = "maria.garcia@example.org"
    patient.save()
    account = make_account(staff["front_desk"], patient)
    clients = {}
    for role, member in people.items():
        c = Client()
        c.force_login(member.user)
        clients[role] = c
    portal = Client()
    portal.force_login(account.user)
    clients["patient"] = portal
    return clients


# --- the chart ------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_the_chart_shows_authorizations_only_to_roles_that_record_them(role, website, staff, login):
    response = login(staff[role]).get(f"/patients/{website.authorization.patient_id}/")
    html = response.content.decode()
    assert response.status_code == 200
    shown = "Authorizations to publish the patient" in html
    assert shown is may(role, "story.authorize")
    assert ("My story under a changed name." in html) is shown
    if shown:
        assert "✓ In force" in html
        assert "The morning I hummed (on the website)" in html
        assert _revoke_url(website.authorization) in html


def test_the_chart_section_reads_in_a_fixed_number_of_queries(
    website, staff, login, django_assert_max_num_queries
):
    client = login(staff["nurse"])
    url = f"/patients/{website.authorization.patient_id}/"
    client.get(url)
    with django_assert_max_num_queries(200) as first:
        client.get(url)
    for days in range(3):
        StoryAuthorization.objects.create(
            clinic=website.authorization.clinic,
            patient_id=website.authorization.patient_id,
            scope=f"Scope {days}",
            signed_on=_today() - timedelta(days=days + 1),
            expires_on=_today() + timedelta(days=30),
            recorded_by=staff["nurse"].user,
        )
    with django_assert_max_num_queries(len(first.captured_queries)):
        client.get(url)


# --- recording ------------------------------------------------------------------------


@pytest.mark.parametrize("role", [*ROLES, "editor", "patient"])
def test_recording_an_authorization_as_each_role(role, everyone, patient):
    client = everyone[role]
    if role in ROLES and may(role, "story.authorize"):
        response = client.post(_record_url(patient), _valid())
        assert response.status_code == 302
        assert response.url == f"/patients/{patient.pk}/"
        made = StoryAuthorization.objects.get(patient=patient)
        assert (made.scope, made.signed_on, made.expires_on) == (
            SCOPE,
            _today() - timedelta(days=2),
            _today() + timedelta(days=365),
        )
        chart = client.get(response.url).content.decode()
        assert "The authorization to publish the story is recorded." in chart
        assert SCOPE in chart
    else:
        with nothing_changed(StoryAuthorization, Patient):
            response = client.post(_record_url(patient), _valid())
        assert response.status_code in (403, 302)
        if response.status_code == 302:  # the editor, working in no chart: to the log-in
            assert "/patients/" not in response.url
        assert not StoryAuthorization.objects.filter(patient=patient).exists()


def test_recording_is_audited_against_the_patient(staff, login, patient):
    login(staff["physician"]).post(_record_url(patient), _valid())
    made = StoryAuthorization.objects.get(patient=patient)
    event = AuditEvent.objects.get(action="create", object_type="website.storyauthorization")
    assert (event.patient_id, event.object_id, event.user_id) == (
        patient.pk,
        str(made.pk),
        staff["physician"].user_id,
    )


@pytest.mark.parametrize("role", ["admin", "physician", "nurse"])
def test_an_empty_form_is_refused_naming_each_field(role, staff, login, patient):
    client = login(staff[role])
    with nothing_changed(StoryAuthorization):
        response = client.post(_record_url(patient), {})
    html = response.content.decode()
    assert response.status_code == 422
    assert html.count("This field is required.") == 3
    assert "Record an authorization to publish the patient" in html


HOSTILE = {
    "ends before it starts": (
        {"expires_on": (date.today() - timedelta(days=10)).isoformat()},
        "The authorization must end after it was signed.",
    ),
    "signed tomorrow": (
        {"signed_on": (date.today() + timedelta(days=2)).isoformat()},
        "The signing date is in the future.",
    ),
    "signed before birth": (
        {"signed_on": "1950-01-01"},
        "The signing date is before the patient&#x27;s birth: check the year.",
    ),
    "already expired": (
        {"signed_on": "2020-01-01", "expires_on": "2021-01-01"},
        "This authorization has already expired: record a current one.",
    ),
    "year 9999": ({"expires_on": "9999-12-31"}, "Check the year: that is more than 25 years"),
    "not a date": ({"signed_on": "yesterday'; DROP TABLE x;--"}, "Enter a valid date."),
    "a year past 9999": ({"expires_on": "12026-01-01"}, "Enter a valid date."),
    "blank scope": ({"scope": "   "}, "This field is required."),
    "a null character": ({"scope": "My story\x00"}, "Null characters are not allowed."),
    "a huge scope": ({"scope": "x" * 5000}, "Ensure this value has at most 2000 characters"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_input_is_refused_and_changes_nothing(case, staff, login, patient):
    overrides, message = HOSTILE[case]
    client = login(staff["nurse"])
    with nothing_changed(StoryAuthorization):
        response = client.post(_record_url(patient), _valid(**overrides))
    assert response.status_code == 422
    assert message in response.content.decode()


def test_markup_in_the_scope_is_shown_as_text(staff, login, patient):
    client = login(staff["physician"])
    client.post(_record_url(patient), _valid(scope="<script>alert(1)</script> my story"))
    html = client.get(f"/patients/{patient.pk}/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; my story" in html


def test_another_clinics_patient_is_not_found(staff, login, other_clinic):
    stranger = Patient.objects.create(
        clinic=other_clinic,
        mrn="N1",
        given_name="Tom",
        family_name="North",
        birth_date=date(1970, 1, 1),
        sex_at_birth="male",
    )
    client = login(staff["physician"])
    with nothing_changed(StoryAuthorization):
        assert client.post(_record_url(stranger), _valid()).status_code == 404
        assert client.get(_record_url(stranger)).status_code == 404


# --- revoking -------------------------------------------------------------------------


def test_the_confirmation_names_the_story_that_will_leave_the_website(website, staff, login):
    response = login(staff["nurse"]).get(_revoke_url(website.authorization))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Revoking takes 1 story off the website now: “The morning I hummed”." in html
    assert _story_is_live(website)
    website.authorization.refresh_from_db()
    assert website.authorization.revoked_at is None
    # Opening the confirmation shows the patient's header: a read, audited.
    assert AuditEvent.objects.filter(action="view", detail__view="story_authorization").exists()


@pytest.mark.parametrize("role", [*ROLES, "editor", "patient"])
def test_revoking_as_each_role(role, website, everyone):
    client = everyone[role]
    url = _revoke_url(website.authorization)
    if role in ROLES and may(role, "story.authorize"):
        response = client.post(url)
        assert response.status_code == 302
        assert response.url == f"/patients/{website.authorization.patient_id}/"
        website.authorization.refresh_from_db()
        assert website.authorization.revoked_at is not None
        assert not _story_is_live(website)
        chart = client.get(response.url).content.decode()
        assert "The authorization is revoked" in chart
        assert "✕ Revoked" in chart
        assert "The morning I hummed (not published)" in chart
    else:
        with nothing_changed(StoryAuthorization, StoryPage):
            response = client.post(url)
        assert response.status_code in (403, 302)
        assert _story_is_live(website)


def test_revoking_unpublishes_the_story_at_once_and_audits_both(website, staff, login):
    login(staff["physician"]).post(_revoke_url(website.authorization))
    revoke = AuditEvent.objects.get(action="revoke")
    assert (revoke.patient_id, revoke.object_id, revoke.user_id) == (
        website.authorization.patient_id,
        str(website.authorization.pk),
        staff["physician"].user_id,
    )
    assert AuditEvent.objects.filter(action="story_unpublished").count() == 1
    assert Client().get(website.story.url).status_code == 404


def test_revoking_twice_changes_nothing_the_second_time(website, staff, login):
    client = login(staff["physician"])
    client.post(_revoke_url(website.authorization))
    with nothing_changed(StoryAuthorization, StoryPage):
        response = client.post(_revoke_url(website.authorization))
    assert response.status_code == 302
    page = client.get(_revoke_url(website.authorization)).content.decode()
    assert "This authorization was revoked on" in page
    assert "Revoke the authorization</button>" not in page


def test_another_clinics_physician_cannot_revoke(website, outsider, login):
    client = login(outsider)
    with nothing_changed(StoryAuthorization, StoryPage):
        assert client.post(_revoke_url(website.authorization)).status_code == 404
        assert client.get(_revoke_url(website.authorization)).status_code == 404
    assert _story_is_live(website)


# --- the API --------------------------------------------------------------------------


def test_the_api_lists_a_patients_authorizations(website, staff, api_client):
    patient_id = website.authorization.patient_id
    response = api_client(staff["nurse"]).get(f"/api/v1/patients/{patient_id}/story-authorizations")
    assert response.status_code == 200
    assert response.json() == [
        {
            "id": website.authorization.pk,
            "patient_id": patient_id,
            "scope": "My story under a changed name.",
            "signed_on": (_today() - timedelta(days=10)).isoformat(),
            "expires_on": (_today() + timedelta(days=300)).isoformat(),
            "revoked_at": None,
            "in_force": True,
            "stories": [{"id": website.story.pk, "title": "The morning I hummed", "live": True}],
        }
    ]


@pytest.mark.parametrize("role", ROLES)
def test_the_api_records_for_the_roles_that_may(role, staff, api_client, patient):
    client = api_client(staff[role])
    url = f"/api/v1/patients/{patient.pk}/story-authorizations"
    if may(role, "story.authorize"):
        response = client.post(url, _valid(), content_type="application/json")
        assert response.status_code == 201
        body = response.json()
        assert (body["scope"], body["in_force"], body["stories"]) == (SCOPE, True, [])
        assert StoryAuthorization.objects.get(pk=body["id"]).recorded_by == staff[role].user
    else:
        with nothing_changed(StoryAuthorization):
            response = client.post(url, _valid(), content_type="application/json")
        assert response.status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_valid(expires_on="2000-01-01"), "expires_on"),
        (_valid(scope=""), "scope"),
        (_valid(signed_on="not a date"), "signed_on"),
        ({**_valid(), "patient_name": "Maria"}, "patient_name"),
        (_valid(scope="a\x00b"), "scope"),
    ],
)
def test_the_api_refuses_bad_input_naming_the_field(body, field, staff, api_client, patient):
    client = api_client(staff["physician"])
    with nothing_changed(StoryAuthorization):
        response = client.post(
            f"/api/v1/patients/{patient.pk}/story-authorizations",
            body,
            content_type="application/json",
        )
    assert response.status_code == 422
    assert field in response.content.decode()


def test_the_api_revokes_and_unpublishes(website, staff, api_client):
    response = api_client(staff["admin"]).post(
        f"/api/v1/story-authorizations/{website.authorization.pk}/revoke"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["revoked_at"] is not None
    assert body["in_force"] is False
    assert body["stories"] == [
        {"id": website.story.pk, "title": "The morning I hummed", "live": False}
    ]
    assert AuditEvent.objects.filter(action="revoke").count() == 1


def test_the_api_hides_another_clinics_rows(website, outsider, api_client):
    client = api_client(outsider)
    patient_id = website.authorization.patient_id
    with nothing_changed(StoryAuthorization, StoryPage):
        assert client.get(f"/api/v1/patients/{patient_id}/story-authorizations").status_code == 404
        assert (
            client.post(
                f"/api/v1/patients/{patient_id}/story-authorizations",
                _valid(),
                content_type="application/json",
            ).status_code
            == 404
        )
        assert (
            client.post(
                f"/api/v1/story-authorizations/{website.authorization.pk}/revoke"
            ).status_code
            == 404
        )
    assert _story_is_live(website)
