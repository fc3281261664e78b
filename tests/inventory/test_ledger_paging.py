"""The ledger page pages by key (the id it starts after), never OFFSET (issue #13)."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ketaclinic.inventory import services, views
from ketaclinic.inventory.models import LedgerEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def entries(lot, nurse, patient, new_session, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 5)
    for _ in range(11):
        services.post_administration(
            actor=nurse, lot=lot, quantity="0.1", unit="mL", patient=patient,
            session_ref=new_session(), given_at=None,
        )  # fmt: skip
    return list(LedgerEntry.objects.order_by("-id").values_list("id", flat=True))


def _shown(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tr id="entry-(\d+)"', html)]


def _link(html: str, label: str) -> str | None:
    found = re.search(rf'href="(\?[^"]*)">{label}</a>', html)
    return found.group(1).replace("&amp;", "&") if found else None


def test_older_and_newer_walk_every_entry_once_newest_first(staff, login, entries):
    client = login(staff["nurse"])
    html = client.get("/inventory/").content.decode()
    assert _link(html, "Newer") is None
    seen, pages = _shown(html), [html]
    while older := _link(html, "Older"):
        html = client.get(f"/inventory/{older}").content.decode()
        seen += _shown(html)
        pages.append(html)
    assert seen == entries  # 12 entries: the receipt and eleven doses, none twice
    assert len(pages) == 3 and _link(pages[-1], "Older") is None
    back = client.get(f"/inventory/{_link(pages[-1], 'Newer')}").content.decode()
    assert _shown(back) == _shown(pages[1])
    first = client.get(f"/inventory/{_link(pages[1], 'Newer')}").content.decode()
    assert _shown(first) == entries[:5] and _link(first, "Newer") is None


def test_a_deep_page_costs_the_queries_of_the_first(staff, login, entries):
    client = login(staff["nurse"])
    client.get("/inventory/")  # the first request of a session also saves the session
    with CaptureQueriesContext(connection) as first:
        client.get("/inventory/")
    with CaptureQueriesContext(connection) as deep:
        client.get(f"/inventory/?before={entries[9]}")
    assert len(deep) <= len(first) + 1  # the "is there a newer page" probe
    assert not any("OFFSET" in q["sql"].upper() for q in [*first, *deep])


def test_the_filters_stay_in_the_paging_links(staff, login, entries, lot):
    html = login(staff["nurse"]).get(f"/inventory/?lot={lot.pk}").content.decode()
    assert f"lot={lot.pk}&before=" in _link(html, "Older")


@pytest.mark.parametrize(
    "query", ["before=abc", "before=-3", "after=", "after=99999999999999999999999", "before=0"]
)
def test_a_made_up_page_key_shows_a_page_not_an_error(staff, login, entries, query):
    response = login(staff["nurse"]).get(f"/inventory/?{query}")
    assert response.status_code == 200
