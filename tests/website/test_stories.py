"""A story tied to a patient is public only while the patient's authorization is valid."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from ketaclinic.audit.models import AuditEvent
from ketaclinic.website import services
from ketaclinic.website.models import StoryPage
from tests.website.conftest import actor

pytestmark = pytest.mark.django_db


def _draft_story(website, **fields) -> StoryPage:
    story = StoryPage(
        title="Another story", slug="another", body="<p>Text.</p>", live=False, **fields
    )
    website.home.add_child(instance=story)
    return story


def test_a_story_from_a_patient_without_authorization_cannot_be_published(website):
    story = _draft_story(website, from_a_patient=True)
    revision = story.save_revision()
    with pytest.raises(ValidationError, match="needs their recorded authorization"):
        revision.publish()
    story.refresh_from_db()
    assert story.live is False
    assert Client().get("/another/").status_code == 404


def test_a_story_with_a_revoked_authorization_cannot_be_published(website, staff):
    services.revoke_authorization(
        actor=actor(staff["physician"]), authorization=website.authorization
    )
    story = _draft_story(website, from_a_patient=True, authorization=website.authorization)
    with pytest.raises(ValidationError, match="revoked"):
        story.save_revision().publish()
    assert StoryPage.objects.get(pk=story.pk).live is False


def test_a_story_not_from_a_patient_needs_no_authorization(website):
    story = _draft_story(website, from_a_patient=False)
    story.save_revision().publish()
    assert Client().get("/another/").status_code == 200


def test_revoking_unpublishes_the_story_at_once_and_is_audited(website, staff):
    assert Client().get("/hummed/").status_code == 200
    services.revoke_authorization(actor=actor(staff["nurse"]), authorization=website.authorization)
    assert StoryPage.objects.get(pk=website.story.pk).live is False
    assert Client().get("/hummed/").status_code == 404
    assert Client().get("/nurse-view/").status_code == 200  # the staff story stays
    event = AuditEvent.objects.get(action="revoke")
    assert event.patient_id == website.authorization.patient_id
    assert AuditEvent.objects.filter(action="story_unpublished").count() == 1


def test_the_worker_unpublishes_a_story_whose_authorization_expired(website):
    website.authorization.expires_on = website.authorization.clinic.today()
    website.authorization.save()
    from ketaclinic.worker.jobs import JOBS

    job = dict((j.__name__, j) for j, _ in JOBS)["unpublish_unauthorized_stories"]
    assert job(timezone.now()) == 1
    assert StoryPage.objects.get(pk=website.story.pk).live is False
    assert job(timezone.now()) == 0


def _second_story(website, staff, patient) -> StoryPage:
    """Another patient-authorized story, under an authorization of its own."""
    today = patient.clinic.today()
    authorization = services.record_authorization(
        actor=actor(staff["physician"]),
        patient=patient,
        scope="The second course, first name only.",
        signed_on=today - timedelta(days=3),
        expires_on=today + timedelta(days=200),
    )
    story = website.home.add_child(
        instance=StoryPage(
            title="Learning to sit still",
            slug="sit-still",
            body="<p>Text.</p>",
            from_a_patient=True,
            authorization=authorization,
        )
    )
    story.save_revision().publish()
    return story


def test_revoking_takes_down_only_the_stories_under_that_authorization(website, staff, patient):
    other = _second_story(website, staff, patient)
    # The other authorization lapsed today: taking it down is the worker's periodic pass,
    # not the revocation of a different authorization.
    type(website.authorization).objects.filter(pk=other.authorization_id).update(
        expires_on=patient.clinic.today()
    )
    services.revoke_authorization(actor=actor(staff["nurse"]), authorization=website.authorization)
    assert StoryPage.objects.get(pk=website.story.pk).live is False
    assert StoryPage.objects.get(pk=other.pk).live is True
    assert Client().get("/sit-still/").status_code == 200
    unpublished = AuditEvent.objects.filter(action="story_unpublished")
    assert [e.detail["page"] for e in unpublished] == [website.story.pk]


def test_a_story_under_a_valid_authorization_stays_after_another_is_revoked(
    website, staff, patient
):
    other = _second_story(website, staff, patient)
    services.revoke_authorization(actor=actor(staff["nurse"]), authorization=website.authorization)
    assert Client().get("/sit-still/").status_code == 200
    assert Client().get("/nurse-view/").status_code == 200
    from ketaclinic.worker.jobs import JOBS

    job = dict((j.__name__, j) for j, _ in JOBS)["unpublish_unauthorized_stories"]
    assert job(timezone.now()) == 0
    assert StoryPage.objects.get(pk=other.pk).live is True


def test_an_authorization_lapses_at_midnight_on_the_clinics_calendar(website):
    """An authorization ending on a date is in force until the clinic's midnight: at 23:30
    in New York the evening before (already the expiry date in UTC) it still is; at 00:30
    on the date it is not."""
    clinic = website.authorization.clinic
    expires = clinic.today()
    website.authorization.expires_on = expires
    website.authorization.save()
    story = StoryPage.objects.get(pk=website.story.pk)
    late_evening_before = datetime.combine(
        expires - timedelta(days=1), time(23, 30), clinic.tz
    )  # 04:30 UTC on the expiry date
    assert story.publication_refusal(late_evening_before) is None
    assert "not in force" in story.publication_refusal(
        datetime.combine(expires, time(0, 30), clinic.tz)
    )


def test_recording_an_authorization_is_audited_against_the_patient(website, patient):
    event = AuditEvent.objects.get(action="create", object_type="website.storyauthorization")
    assert event.patient_id == patient.pk


def test_an_authorization_that_ends_before_it_starts_is_refused(website, staff, patient):
    today = staff["physician"].clinic.today()  # the clinic's date decides "the future"
    with pytest.raises(ValidationError) as refused:
        services.record_authorization(
            actor=actor(staff["physician"]),
            patient=patient,
            scope=" ",
            signed_on=today,
            expires_on=today - timedelta(days=1),
        )
    assert set(refused.value.message_dict) == {"scope", "expires_on"}


def test_the_public_story_never_links_to_the_patient(website, patient):
    html = Client().get("/hummed/").content.decode()
    for private in (
        patient.given_name,
        patient.family_name,
        patient.mrn,
        f"/patients/{patient.pk}/",
    ):
        assert private not in html
    assert "authorization" not in html.lower().replace("written authorization", "")


def test_the_authorization_an_editor_chooses_names_no_patient(website, patient):
    label = str(website.authorization)
    assert label.startswith(f"Authorization #{website.authorization.pk}, signed ")
    assert patient.family_name not in label and patient.mrn not in label


def test_the_editor_pressing_publish_in_cms_is_refused_and_the_draft_kept(website, editor):
    story = _draft_story(website, from_a_patient=True)
    client = Client()
    client.force_login(editor.user)
    edit = client.get(f"/cms/pages/{story.pk}/edit/")
    assert edit.status_code == 200
    response = client.post(
        f"/cms/pages/{story.pk}/edit/",
        {
            "title": "Another story",
            "slug": "another",
            "from_a_patient": "on",
            "authorization": "",
            "author": "",
            "published_on": "2026-11-01",
            "category": "",
            "summary": "",
            "body": '{"blocks":[{"key":"a","text":"Changed text.","type":"unstyled","depth":0,"inlineStyleRanges":[],"entityRanges":[]}],"entityMap":{}}',
            "comments_open": "on",
            "comment_notifications": "",
            "action-publish": "action-publish",
        },
    )
    assert response.status_code == 302
    assert StoryPage.objects.get(pk=story.pk).live is False
    assert StoryPage.objects.get(pk=story.pk).get_latest_revision() is not None
    page = client.get(response["Location"]).content.decode()
    assert "Not published" in page
