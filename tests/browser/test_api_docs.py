"""The API's documentation page draws every route in the browser, from this server's files."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import snap

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_developer_reads_the_api_documentation(page, live_server):
    elsewhere, refused = [], []
    page.on(
        "request",
        lambda r: (
            urlsplit(r.url).netloc != urlsplit(live_server.url).netloc and elsewhere.append(r.url)
        ),
    )
    page.on("console", lambda m: "Content Security Policy" in m.text and refused.append(m.text))
    page.goto("/api/v1/docs")
    page.get_by_text("/api/v1/patients/{patient_id}", exact=True).first.wait_for()
    assert page.get_by_role("button", name="Authorize").is_visible()
    snap(page, "api-docs")
    assert elsewhere == [] and refused == []
