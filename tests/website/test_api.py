"""The public website's API and the moderators' API."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from ketaclinic.website.models import Comment

pytestmark = pytest.mark.django_db

EMAIL = "api.visitor@reader.example"


def _comment(website, **fields) -> Comment:
    values = {
        "clinic": website.home.clinic,
        "page": website.article,
        "name": "Ann",
        "email": EMAIL,
        "text": "Hello",
    }
    values.update(fields)
    return Comment.objects.create(**values)


def test_public_articles_list_slug_title_url_and_date(website):
    body = Client().get("/api/v1/public/articles").json()
    assert body == [
        {
            "slug": "what-it-involves",
            "title": "What ketamine treatment involves",
            "url": "http://localhost/what-it-involves/",
            "published": "2026-11-01",
        }
    ]


def test_public_stories_list_only_live_ones(website):
    slugs = [s["slug"] for s in Client().get("/api/v1/public/stories").json()]
    assert sorted(slugs) == ["hummed", "nurse-view"]
    website.staff_story.unpublish()
    assert [s["slug"] for s in Client().get("/api/v1/public/stories").json()] == ["hummed"]


def test_public_comments_are_approved_only_and_carry_no_email(website):
    _comment(website, status="approved", text="Approved one")
    _comment(website, status="pending", text="Pending one")
    body = Client().get("/api/v1/public/pages/what-it-involves/comments").json()
    assert [c["text"] for c in body] == ["Approved one"]
    assert set(body[0]) == {"id", "name", "text", "date", "clinic_reply", "reply_to"}
    assert EMAIL not in json.dumps(body)


def test_posting_a_comment_answers_202_awaiting_moderation(website):
    response = Client().post(
        "/api/v1/public/pages/what-it-involves/comments",
        {"name": "Ann", "email": EMAIL, "website": "", "text": "A question"},
        content_type="application/json",
    )
    assert response.status_code == 202
    assert response.json() == {
        "status": "pending",
        "detail": "Your comment is awaiting moderation.",
    }
    assert EMAIL not in response.content.decode()
    assert Comment.objects.get().status == "pending"


def test_posting_an_invalid_comment_names_the_fields(website):
    response = Client().post(
        "/api/v1/public/pages/what-it-involves/comments",
        {"name": "", "email": "nope", "website": "", "text": ""},
        content_type="application/json",
    )
    assert response.status_code == 422
    assert {e["loc"][-1] for e in response.json()["detail"]} == {"name", "email", "text"}
    assert Comment.objects.count() == 0


def test_comments_of_a_missing_page_are_404(website):
    assert Client().get("/api/v1/public/pages/nope/comments").status_code == 404


@pytest.mark.parametrize("role", ["editor", "admin"])
def test_editors_and_admins_moderate_through_the_api(website, role, editor, staff, api_client):
    member = editor if role == "editor" else staff["admin"]
    comment = _comment(website)
    client = api_client(member)
    pending = client.get("/api/v1/comments?status=pending").json()
    assert [c["id"] for c in pending] == [comment.pk]
    assert "email" not in pending[0]
    response = client.post(f"/api/v1/comments/{comment.pk}/approve")
    assert response.status_code == 200 and response.json()["status"] == "approved"
    assert client.post(f"/api/v1/comments/{comment.pk}/spam").json()["status"] == "spam"
    assert client.post(f"/api/v1/comments/{comment.pk}/reject").json()["status"] == "rejected"
    assert client.get("/api/v1/comments?status=nonsense").status_code == 422


@pytest.mark.parametrize("role", ["physician", "nurse", "therapist", "front_desk"])
def test_other_staff_may_not_moderate(website, role, staff, api_client):
    comment = _comment(website)
    client = api_client(staff[role])
    assert client.get("/api/v1/comments").status_code == 403
    assert client.post(f"/api/v1/comments/{comment.pk}/approve").status_code == 403
    assert Comment.objects.get().status == "pending"


def test_another_clinics_comment_is_404(website, other_clinic, api_client):
    from ketaclinic.accounts.services import add_staff

    other_editor = add_staff(username="ed2", clinic=other_clinic, role="editor", password="x" * 12)
    comment = _comment(website)
    assert (
        api_client(other_editor).post(f"/api/v1/comments/{comment.pk}/approve").status_code == 404
    )
    assert api_client(other_editor).get("/api/v1/comments").json() == []
    assert Comment.objects.get().status == "pending"


def test_the_session_api_needs_csrf_for_moderation(website, editor):
    comment = _comment(website)
    client = Client(enforce_csrf_checks=True)
    client.force_login(editor.user)
    assert client.post(f"/api/v1/comments/{comment.pk}/approve").status_code == 403
    assert Comment.objects.get().status == "pending"
