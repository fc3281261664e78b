"""A visitor leaves a reply and sees it awaiting moderation; an editor approves it; a nurse
records and revokes a story authorization from the chart; the public pages pass axe-core."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from ketaclinic.website.models import Comment, StoryPage
from tests.browser.axe import assert_accessible
from tests.browser.conftest import PHONE, landed, log_in, snap
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


def test_a_nurse_records_and_revokes_a_story_authorization_from_the_chart(
    page,
    website,  # noqa: F811
    staff,
):
    patient_id = website.authorization.patient_id
    today = staff["nurse"].clinic.today()
    log_in(page, "okafor", PASSWORD)
    landed(page, f"/patients/{patient_id}/")
    section = page.get_by_role("region", name="Authorizations to publish the patient's story")
    expect(section.get_by_text("✓ In force")).to_be_visible()
    expect(section.get_by_text("The morning I hummed (on the website)")).to_be_visible()

    # An empty form names each missing field; a second authorization is then recorded.
    section.get_by_text("Record an authorization").click()
    section.get_by_role("button", name="Record the authorization").click()
    expect(page.get_by_role("heading", name="Record an authorization to publish")).to_be_visible()
    expect(page.get_by_text("This field is required.")).to_have_count(3)
    assert_accessible(page)
    page.get_by_label("What may be published").fill("A quote about the waiting room, unnamed.")
    page.get_by_label("Signed on").fill(str(today))
    page.get_by_label("Expires on").fill(str(today - timedelta(days=1)))
    page.get_by_role("button", name="Record the authorization").click()
    expect(page.get_by_text("The authorization must end after it was signed.")).to_be_visible()
    page.get_by_label("Expires on").fill(str(today + timedelta(days=180)))
    page.get_by_role("button", name="Record the authorization").click()
    expect(page.get_by_text("The authorization to publish the story is recorded.")).to_be_visible()
    expect(section.get_by_text("“A quote about the waiting room, unnamed.”")).to_be_visible()
    assert_accessible(page)
    snap(page, "website-chart-authorizations")

    # Revoking asks first, names the story it takes down, then takes it down.
    section.get_by_role("row", name="My story under a changed name.").get_by_role(
        "link", name="Revoke…"
    ).click()
    expect(page.get_by_text("Revoking takes 1 story off the website now")).to_be_visible()
    assert_accessible(page)
    snap(page, "website-authorization-revoke")
    page.get_by_role("button", name="Revoke the authorization").click()
    expect(page.get_by_text("The authorization is revoked")).to_be_visible()
    expect(section.get_by_text("The morning I hummed (not published)")).to_be_visible()
    assert not StoryPage.objects.get(pk=website.story.pk).live

    page.context.clear_cookies()
    page.goto("/hummed/")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    assert_accessible(page)
    snap(page, "website-public-404")


def test_an_articles_picture_shows_with_debug_off(page, website, settings, tmp_path):  # noqa: F811
    import io

    from django.core.files.images import ImageFile
    from PIL import Image as PILImage
    from wagtail.images import get_image_model

    from ketaclinic.website.models import ArticlePage

    settings.DEBUG = False
    settings.MEDIA_ROOT = tmp_path
    buffer = io.BytesIO()
    PILImage.new("RGB", (320, 160), (74, 131, 168)).save(buffer, "PNG")
    article = ArticlePage.objects.get(pk=website.article.pk)
    article.image = get_image_model().objects.create(
        title="Calm water", file=ImageFile(buffer, name="water.png")
    )
    article.save_revision().publish()
    page.goto("/what-it-involves/")
    picture = page.locator("img.hero-image")
    expect(picture).to_have_attribute("alt", "Calm water")
    page.wait_for_function("document.querySelector('img.hero-image').complete")
    assert picture.evaluate("img => img.naturalWidth") == 320
    assert_accessible(page)
