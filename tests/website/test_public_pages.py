"""The public pages: SEO tags, feeds, sitemap, robots.txt, no staff data in their context."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_article_has_title_description_canonical_and_open_graph(website):
    html = Client().get("/what-it-involves/").content.decode()
    assert "<title>What ketamine treatment involves · Harbor Light</title>" in html
    assert '<meta name="description" content="Consultation, sessions, integration.">' in html
    assert '<link rel="canonical" href="http://localhost/what-it-involves/">' in html
    assert '<meta property="og:type" content="article">' in html
    assert "3 min read" in html  # 450 words at 200 a minute
    assert 'href="/outcomes/published/"' in html


def test_the_home_page_lists_articles_stories_and_links_the_outcomes(website):
    html = Client().get("/").content.decode()
    assert "What ketamine treatment involves" in html and "The morning I hummed" in html
    assert 'href="/outcomes/published/"' in html


def test_public_pages_carry_no_staff_session_data(website, staff, django_assert_max_num_queries):
    client = Client()
    client.force_login(staff["physician"].user)
    with django_assert_max_num_queries(40):
        response = client.get("/what-it-involves/")
    assert response.status_code == 200
    keys = set().union(*(set(c.flatten()) for c in response.context))
    assert not keys & {"user", "request", "perms", "current_clinic", "membership", "messages"}
    assert "Lena" not in response.content.decode()  # the signed-in physician's name


def test_the_sitemap_lists_the_live_pages(website):
    xml = Client().get("/sitemap.xml").content.decode()
    for path in ("/", "/what-it-involves/", "/hummed/", "/nurse-view/", "/contact/"):
        assert f"<loc>http://localhost{path}</loc>" in xml


def test_before_any_site_is_set_up_the_public_addresses_answer_not_found_or_empty():
    """A new install whose editors removed Wagtail's default site: nothing answers 500."""
    from wagtail.models import Site

    Site.objects.all().delete()
    client = Client()
    assert client.get("/sitemap.xml").status_code == 404
    for path in ("/", "/robots.txt", "/feed/rss/", "/feed/atom/", "/what-it-involves/"):
        assert client.get(path).status_code in (200, 404), path


def test_the_feeds_list_articles_and_stories(website):
    atom = Client().get("/feed/atom/")
    assert atom["Content-Type"].startswith("application/atom+xml")
    assert "What ketamine treatment involves" in atom.content.decode()
    rss = Client().get("/feed/rss/").content.decode()
    assert "The morning I hummed" in rss


def test_robots_names_the_sitemap_and_keeps_staff_pages_out(website):
    text = Client().get("/robots.txt").content.decode()
    assert "Disallow: /cms/" in text and "Disallow: /patients/" in text
    assert "Sitemap: http://testserver/sitemap.xml" in text


def test_the_staff_routes_are_not_shadowed_by_the_website(website, staff):
    client = Client()
    client.force_login(staff["nurse"].user)
    assert client.get("/home/").status_code == 302
    assert client.get("/patients/").status_code == 200
    assert Client().get("/healthz").status_code == 200
    assert Client().get("/no-such-page/").status_code == 404
