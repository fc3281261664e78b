"""Leave a Reply: held for moderation, bots dropped silently, limits, escaping, deletion link."""

from __future__ import annotations

import re
import time

import pytest
from django.core import mail
from django.test import Client

from ketaclinic.website.forms import started_token
from ketaclinic.website.models import Comment
from tests.website.conftest import comment_form

pytestmark = pytest.mark.django_db

EMAIL = comment_form()["email"]


def post(website, data, client=None):
    return (client or Client()).post(f"/comments/{website.article.pk}/", data)


def test_a_comment_is_held_for_moderation_and_the_visitor_told_so(website):
    response = post(website, comment_form())
    assert response.status_code == 302
    assert response["Location"] == "/what-it-involves/?comment=pending#leave-a-reply"
    comment = Comment.objects.get()
    assert (comment.status, comment.name, comment.email, comment.clinic_id) == (
        "pending",
        "Jo",
        EMAIL,
        website.home.clinic_id,
    )
    page = Client().get(response["Location"]).content.decode()
    assert "Your comment is awaiting moderation" in page
    assert "Does it help with anxiety?" not in page  # not shown until approved


def test_the_commenter_is_emailed_a_deletion_link_that_deletes_it(
    website, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        post(website, comment_form())
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [EMAIL]
    link = re.search(r"https?://\S+(/comments/delete/\S+/)", mail.outbox[0].body).group(1)
    assert Client().get(link).status_code == 200
    Client().post(link)
    assert Comment.objects.count() == 0
    assert "Nothing to delete" in Client().post(link).content.decode()


def test_an_empty_form_names_each_missing_field_and_stores_nothing(website):
    response = post(website, comment_form(name="", email="", text=""))
    assert response.status_code == 422
    html = response.content.decode()
    assert "Enter your name." in html
    assert "Enter your e-mail address (it is never published)." in html
    assert "Write your comment." in html
    assert Comment.objects.count() == 0


def test_a_bad_email_and_website_are_refused(website):
    html = post(
        website, comment_form(email="not-an-address", website="javascript:alert(1)")
    ).content.decode()
    assert "Enter a valid e-mail address." in html
    assert "Enter a web address starting with http:// or https://." in html
    assert Comment.objects.count() == 0


def test_a_filled_honeypot_is_dropped_silently(website):
    response = post(website, comment_form(homepage="http://spam.example"))
    assert response.status_code == 302 and "comment=pending" in response["Location"]
    assert Comment.objects.count() == 0


def test_a_form_sent_faster_than_a_person_can_type_is_dropped_silently(website):
    assert post(website, comment_form(started=started_token(time.time()))).status_code == 302
    assert post(website, comment_form(started="forged")).status_code == 302
    assert Comment.objects.count() == 0


def test_more_than_five_comments_an_hour_from_one_address_are_refused(website, settings):
    for _ in range(settings.WEBSITE_COMMENTS_PER_HOUR):
        assert post(website, comment_form()).status_code == 302
    response = post(website, comment_form())
    assert response.status_code == 422
    assert "Too many comments from your address" in response.content.decode()
    assert Comment.objects.count() == settings.WEBSITE_COMMENTS_PER_HOUR


def test_the_rate_limit_is_counted_in_the_shared_cache(website, settings):
    from django.core.cache import caches

    post(website, comment_form())
    keys = caches["default"]
    # The count lives in the cache every process shares (the database or Redis), not in memory.
    assert settings.CACHES["default"]["BACKEND"] != "django.core.cache.backends.locmem.LocMemCache"
    from ketaclinic import limits

    assert limits.count("website-comment:127.0.0.1", 3600, cache=keys) == 1


def test_a_comment_over_the_size_limit_is_refused(website):
    response = post(website, comment_form(text="x" * 4001))
    assert response.status_code == 422
    assert "A comment has at most 4000 characters (4001 now)." in response.content.decode()


def test_a_comment_with_more_than_two_links_is_refused(website):
    text = "see http://a.example http://b.example www.c.example"
    response = post(website, comment_form(text=text))
    assert response.status_code == 422
    assert "at most 2 links" in response.content.decode()
    assert (
        post(website, comment_form(text="see http://a.example and http://b.example")).status_code
        == 302
    )


def test_a_script_in_a_name_or_comment_shows_as_text(website, editor):
    from ketaclinic.website import services
    from tests.website.conftest import actor

    post(
        website,
        comment_form(
            name="<script>alert('n')</script>", text="<script>alert(1)</script> **bold** *it*"
        ),
    )
    services.moderate(actor=actor(editor), comment=Comment.objects.get(), status="approved")
    html = Client().get("/what-it-involves/").content.decode()
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#x27;n&#x27;)&lt;/script&gt;" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; <strong>bold</strong> <em>it</em>" in html


def test_a_hostile_form_answers_without_a_500(website):
    for data in (
        comment_form(name="\x00", text="\x00"),
        comment_form(started="x" * 5000, homepage=""),
        comment_form(name="n" * 500, email="a@" + "b" * 300, website="http://" + "w" * 400),
        {"name": ["a", "b"]},
    ):
        assert post(website, data).status_code in (302, 422)


def test_comments_on_a_draft_or_missing_page_are_404(website):
    assert Client().post("/comments/999999/", comment_form()).status_code == 404
    assert Client().post(f"/comments/{website.contact.pk}/", comment_form()).status_code == 404
