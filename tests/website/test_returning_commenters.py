"""A clinic may approve returning commenters automatically (issue 18): off by default; on,
a comment is published at once when its e-mail address was confirmed from the e-mailed
link and a moderator approved an earlier comment from it. The spam checks come first."""

from __future__ import annotations

import json
import re
import time

import pytest
from django.core import mail
from django.test import Client

from ketaclinic.website import services
from ketaclinic.website.forms import started_token
from ketaclinic.website.models import Comment, HomePage
from tests.website.conftest import actor, comment_form

pytestmark = pytest.mark.django_db

EMAIL = "sam.reader@reader.example"


def form(**overrides: str) -> dict[str, str]:
    return comment_form(
        **{"name": "Sam", "email": EMAIL, "text": "Thank you for the article.", **overrides}
    )


def post(website, **overrides):
    return Client().post(f"/comments/{website.article.pk}/", form(**overrides))


def turn_on(website) -> None:
    home = HomePage.objects.get(pk=website.home.pk)
    home.auto_approve_confirmed_commenters = True
    home.save_revision().publish()


def link(kind: str, message) -> str:
    return re.search(rf"https?://\S+(/comments/{kind}/\S+/)", message.body).group(1)


@pytest.fixture
def returning(website, editor, django_capture_on_commit_callbacks):
    """Sam's first comment, confirmed from the e-mailed link and approved by an editor."""

    def make() -> Comment:
        with django_capture_on_commit_callbacks(execute=True):
            post(website, text="My first comment.")
        first = Comment.objects.get(text="My first comment.")
        Client().post(link("confirm", mail.outbox[-1]))
        services.moderate(actor=actor(editor), comment=first, status=Comment.Status.APPROVED)
        mail.outbox.clear()
        return first

    return make


def test_off_by_default_a_confirmed_returning_commenter_is_held(website, returning):
    assert HomePage.objects.get(pk=website.home.pk).auto_approve_confirmed_commenters is False
    turn_on(website)
    returning()
    home = HomePage.objects.get(pk=website.home.pk)
    home.auto_approve_confirmed_commenters = False
    home.save_revision().publish()
    response = post(website, text="My second comment.")
    assert response["Location"].endswith("?comment=pending#leave-a-reply")
    assert Comment.objects.get(text="My second comment.").status == "pending"


def test_a_confirmed_previously_approved_commenter_is_published_at_once(
    website, returning, django_capture_on_commit_callbacks
):
    turn_on(website)
    returning()
    with django_capture_on_commit_callbacks(execute=True):
        response = post(website, email=EMAIL.upper(), text="My second comment.")
    second = Comment.objects.get(text="My second comment.")
    assert (second.status, second.moderated_by) == ("approved", None)
    assert response["Location"] == f"/what-it-involves/?comment=published#comment-{second.pk}"
    page = Client().get(response["Location"]).content.decode()
    assert "Your comment is published." in page
    assert "My second comment." in page
    assert EMAIL not in page.lower() and EMAIL.upper() not in page
    # Already confirmed: the e-mail says it is published and asks for nothing more.
    assert "It is published." in mail.outbox[-1].body
    assert "/comments/confirm/" not in mail.outbox[-1].body


def test_an_unconfirmed_commenter_is_held_even_after_an_approval(
    website, editor, django_capture_on_commit_callbacks
):
    turn_on(website)
    with django_capture_on_commit_callbacks(execute=True):
        post(website, text="My first comment.")
    first = Comment.objects.get()
    services.moderate(actor=actor(editor), comment=first, status=Comment.Status.APPROVED)
    with django_capture_on_commit_callbacks(execute=True):
        post(website, text="My second comment.")
    second = Comment.objects.get(text="My second comment.")
    assert second.status == "pending"
    # The e-mail offers the link; opening it shows a button and confirms nothing yet (a
    # mail scanner follows links), pressing it confirms and publishes the waiting comment.
    confirm = link("confirm", mail.outbox[-1])
    page = Client().get(confirm)
    assert "Confirm my address" in page.content.decode()
    assert Comment.objects.filter(email_confirmed_at__isnull=False).count() == 0
    done = Client().post(confirm).content.decode()
    assert "Your address is confirmed" in done and "Your comment is published" in done
    assert EMAIL not in done
    assert Comment.objects.get(pk=second.pk).status == "approved"
    assert post(website, text="My third comment.").status_code == 302
    assert Comment.objects.get(text="My third comment.").status == "approved"


def test_a_confirmed_commenter_with_nothing_approved_yet_is_held(
    website, django_capture_on_commit_callbacks
):
    turn_on(website)
    with django_capture_on_commit_callbacks(execute=True):
        post(website, text="My first comment.")
    Client().post(link("confirm", mail.outbox[-1]))
    assert Comment.objects.get().status == "pending"
    post(website, text="My second comment.")
    assert Comment.objects.get(text="My second comment.").status == "pending"


def test_another_address_is_held(website, returning):
    turn_on(website)
    returning()
    post(website, email="someone.else@reader.example", text="Me too.")
    assert Comment.objects.get(text="Me too.").status == "pending"


def test_a_comment_marked_as_spam_stops_automatic_approval(website, returning, editor):
    turn_on(website)
    returning()
    post(website, text="Second.")
    second = Comment.objects.get(text="Second.")
    assert second.status == "approved"
    services.moderate(actor=actor(editor), comment=second, status=Comment.Status.SPAM)
    post(website, text="Third.")
    assert Comment.objects.get(text="Third.").status == "pending"


@pytest.mark.parametrize(
    "trap",
    [{"homepage": "http://spam.example"}, {"started": "now"}],
    ids=["honeypot", "filled too fast"],
)
def test_a_bot_using_a_confirmed_address_is_still_dropped(website, returning, trap):
    turn_on(website)
    returning()
    if trap.get("started") == "now":
        trap = {"started": started_token(time.time())}
    response = post(website, text="Buy pills.", **trap)
    assert response["Location"].endswith("?comment=pending#leave-a-reply")
    assert not Comment.objects.filter(text="Buy pills.").exists()


def test_the_link_count_and_rate_limit_still_apply(website, returning, settings):
    turn_on(website)
    returning()
    links = "http://a.example http://b.example http://c.example"
    response = post(website, text=links)
    assert response.status_code == 422
    assert not Comment.objects.filter(text=links).exists()
    settings.WEBSITE_COMMENTS_PER_HOUR = 1  # the first comment already used the hour
    response = post(website, text="One more.")
    assert response.status_code == 422
    assert "Too many comments from your address" in response.content.decode()
    assert not Comment.objects.filter(text="One more.").exists()


def test_the_api_says_a_returning_commenters_comment_is_published(website, returning):
    turn_on(website)
    returning()
    response = Client().post(
        "/api/v1/public/pages/what-it-involves/comments",
        {"name": "Sam", "email": EMAIL, "text": "Via the API."},
        content_type="application/json",
    )
    assert response.status_code == 202
    assert response.json() == {"status": "approved", "detail": "Your comment is published."}
    assert EMAIL not in response.content.decode()


def test_an_unknown_confirmation_link_confirms_nothing(website):
    page = Client().post("/comments/confirm/not-a-secret/").content.decode()
    assert "Nothing to confirm" in page


def test_the_moderation_queue_says_whether_it_is_on(website, editor, login):
    client = login(editor)
    assert "held for moderation" in client.get("/website/comments/").content.decode()
    turn_on(website)
    assert "approved automatically" in client.get("/website/comments/").content.decode()


@pytest.mark.parametrize("who", ["editor", "admin"])
def test_editors_and_admins_turn_it_on_in_the_home_pages_settings(website, editor, staff, who):
    client = Client()
    client.force_login((editor if who == "editor" else staff["admin"]).user)
    url = f"/cms/pages/{website.home.pk}/edit/"
    assert "auto_approve_confirmed_commenters" in client.get(url).content.decode()
    response = client.post(
        url,
        {
            "title": "Harbor Light",
            "slug": "harbor-site",
            "intro": "",
            "body": json.dumps({"blocks": [], "entityMap": {}}),
            "clinic": str(website.home.clinic_id),
            "auto_approve_confirmed_commenters": "on",
            "comment_notifications": "",
            "action-publish": "action-publish",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert HomePage.objects.get(pk=website.home.pk).auto_approve_confirmed_commenters is True
