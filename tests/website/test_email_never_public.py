"""A commenter's e-mail appears nowhere public: every page reached from the home page,
the sitemap and its pages, the feeds, robots.txt and the public API."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import quote, urljoin, urlparse

import pytest
from django.test import Client

from ketaclinic.website import services
from ketaclinic.website.models import Comment
from tests.website.conftest import actor

pytestmark = pytest.mark.django_db

EMAIL = "secret.commenter@reader.example"


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src", "action") and value:
                self.found.append(value)


def _public_urls(client: Client) -> dict[str, bytes]:
    """Every local URL an anonymous visitor can reach, with its body."""
    seen: dict[str, bytes] = {}
    queue = ["/", "/sitemap.xml", "/robots.txt", "/feed/rss/", "/feed/atom/"]
    queue += ["/api/v1/public/articles", "/api/v1/public/stories"]
    while queue:
        url = queue.pop()
        parts = urlparse(url)
        if parts.netloc not in ("", "localhost", "testserver"):
            continue
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        if path in seen or path.startswith(("/static/", "/login/", "/cms/")):
            continue
        response = client.get(path)
        if response.status_code in (301, 302):
            queue.append(response["Location"])
            seen[path] = b""
            continue
        seen[path] = response.content
        if response.status_code != 200:
            continue
        body = response.content.decode()
        if "html" in response["Content-Type"]:
            parser = Links()
            parser.feed(body)
            queue += [urljoin(path, link) for link in parser.found]
        queue += re.findall(r"<loc>([^<]+)</loc>", body)
        queue += re.findall(r'"url": ?"([^"]+)"', body)
        queue += re.findall(r'<link[^>]+href="([^"]+)"', body)
    return seen


def test_the_commenters_email_appears_on_no_public_url(website, editor):
    for page in (website.article, website.story):
        comment = Comment.objects.create(
            clinic=website.home.clinic,
            page=page,
            name="Quiet reader",
            email=EMAIL,
            website="https://reader.example/",
            text="Thank you for this.",
        )
        services.moderate(actor=actor(editor), comment=comment, status="approved")
        services.reply_as_clinic(
            actor=actor(editor), comment=comment, text="Thank you.", privacy_checked=False
        )
    Comment.objects.create(
        clinic=website.home.clinic, page=website.article, name="P", email=EMAIL, text="Pending"
    )
    client = Client()
    for page in ("what-it-involves", "hummed"):
        client.get(f"/api/v1/public/pages/{page}/comments")
    pages = _public_urls(client)
    pages.update(
        {
            f"/api/v1/public/pages/{slug}/comments": client.get(
                f"/api/v1/public/pages/{slug}/comments"
            ).content
            for slug in ("what-it-involves", "hummed")
        }
    )
    assert {
        "/",
        "/what-it-involves/",
        "/hummed/",
        "/sitemap.xml",
        "/feed/atom/",
        "/feed/rss/",
    } <= set(pages)
    assert b"Quiet reader" in pages["/what-it-involves/"]  # the comment itself is public
    needles = [EMAIL, EMAIL.upper(), quote(EMAIL), "secret.commenter", "reader.example/\u0040"]
    leaks = [
        (url, needle)
        for url, body in pages.items()
        for needle in needles
        if needle.lower() in body.decode("utf-8", "replace").lower()
    ]
    assert leaks == []
