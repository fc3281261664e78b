"""The public website's 404 is its own page; a staff route keeps the staff 404."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

PUBLIC = "Page not found"
STAFF = "There is nothing here, or it belongs to another clinic."


def _html(response) -> str:
    assert response.status_code == 404
    return response.content.decode()


@pytest.mark.parametrize("path", ["/no-such-page/", "/stories/no-such/", "/a/b/c/", "/x.php"])
def test_a_visitor_gets_the_public_404(path, website):
    html = _html(Client().get(path))
    assert PUBLIC in html
    assert '<a class="brand" href="/">Harbor Light</a>' in html
    assert '<a href="/contact/">Contact</a>' in html  # the site's own menu
    assert '<meta name="robots" content="noindex">' in html
    assert STAFF not in html


def test_a_signed_in_clinician_on_the_public_site_sees_no_staff_navigation(website, staff, login):
    html = _html(login(staff["physician"]).get("/no-such-page/"))
    assert PUBLIC in html
    assert "/patients/" not in html
    assert "Log out" not in html
    assert "drchen" not in html and "Chen" not in html


def test_an_unpublished_story_is_a_public_404(website):
    url = website.story.url
    website.story.unpublish()
    assert PUBLIC in _html(Client().get(url))


@pytest.mark.parametrize(
    "path",
    [
        "/patients/999999/",
        "/patients/not-a-number/",
        "/api/v1/nope/",
        "/story-authorizations/999999/revoke/",
    ],
)
def test_a_staff_route_keeps_the_staff_404(path, website, staff, login):
    html = _html(login(staff["physician"]).get(path))
    assert STAFF in html
    assert PUBLIC not in html


def test_a_missing_comment_page_is_a_public_404(website):
    assert PUBLIC in _html(Client().post("/comments/999999/", {}))
