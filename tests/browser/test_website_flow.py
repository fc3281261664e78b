"""A visitor leaves a reply and sees it awaiting moderation; an editor approves it; the
public pages pass axe-core."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from ketaclinic.website.models import Comment
from tests.browser.axe import assert_accessible
from tests.browser.conftest import PHONE, log_in, snap
from tests.conftest import PASSWORD
from tests.website.conftest import editor, fresh_limits, website  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_visitor_replies_and_an_editor_approves(page, website, editor, settings):  # noqa: F811
    settings.WEBSITE_COMMENT_MIN_SECONDS = 1
    page.goto("/")
    expect(page.get_by_role("heading", name="Harbor Light", level=1)).to_be_visible()
    assert_accessible(page)
    snap(page, "website-home")

    page.get_by_role("link", name="What ketamine treatment involves").click()
    expect(page.get_by_role("heading", name="What ketamine treatment involves")).to_be_visible()
    expect(page.get_by_text("Your email address will not be published.")).to_be_visible()
    assert_accessible(page)
    time.sleep(1.2)
    page.get_by_role("textbox", name="Comment").fill(
        "Is the <script>first</script> session the hardest?"
    )
    page.get_by_role("textbox", name="Name").fill("<b>Jo</b>")
    page.get_by_role("textbox", name="Email").fill("jo.browser@reader.example")
    page.get_by_role("button", name="Post Comment").click()
    expect(page.get_by_role("status")).to_contain_text("Your comment is awaiting moderation")
    assert_accessible(page)
    snap(page, "website-article-awaiting")
    comment = Comment.objects.get()
    assert comment.status == "pending"

    # An empty reply names what is missing.
    page.get_by_role("button", name="Post Comment").click()
    expect(page.get_by_text("Enter your name.")).to_be_visible()
    assert_accessible(page)

    log_in(page, "hale", PASSWORD)
    page.wait_for_url("**/website/comments/")
    expect(page.get_by_text("Is the <script>first</script> session the hardest?")).to_be_visible()
    snap(page, "website-moderation")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_text(f"Comment #{comment.pk}: approved.")).to_be_visible()
    comment.refresh_from_db()
    assert comment.status == "approved"

    # The clinic's reply is checked for words that could confirm a patient relationship.
    page.goto(f"/website/comments/{comment.pk}/reply/")
    page.get_by_label("The clinic's reply").fill("We hope your sessions went well.")
    page.get_by_role("button", name="Publish reply").click()
    expect(page.get_by_text("could confirm that the person is a patient")).to_be_visible()
    snap(page, "website-reply-warning")
    page.get_by_label("The clinic's reply").fill(
        "Thank you. In general, the first session feels the most unfamiliar; do call us."
    )
    page.get_by_role("button", name="Publish reply").click()
    expect(page.get_by_text("The clinic's reply is published.")).to_be_visible()

    page.context.clear_cookies()
    page.set_viewport_size(PHONE)
    page.goto("/what-it-involves/")
    expect(page.get_by_text("Is the <script>first</script> session the hardest?")).to_be_visible()
    expect(page.get_by_text("<b>Jo</b>")).to_be_visible()
    assert "jo.browser@reader.example" not in page.content()
    assert_accessible(page)
    snap(page, "website-article-phone")
    for path in ("/hummed/", "/contact/"):
        page.goto(path)
        assert_accessible(page)
