"""The 500s the crawler (test_crawl.py) found, each pinned by a focused test."""

from __future__ import annotations

from datetime import date

import pytest

from ketaclinic.accounts.models import Clinic

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("role", "url"),
    [
        ("physician", "/inventory/?start=2026-01-01&end=9999-12-31"),
        ("admin", "/audit/?date_from=0001-01-01&date_to=9999-12-31"),
        ("admin", "/inventory/reports/download/?report=counts&end=9999-12-31&fmt=csv"),
        ("admin", "/inventory/reports/download/?report=receipts&end=9999-12-31&fmt=csv"),
    ],
)
def test_a_filter_to_the_last_day_a_date_can_hold_answers_not_500(staff, login, role, url):
    response = login(staff[role]).get(url)
    assert response.status_code == 200


def test_a_day_span_leaves_out_a_bound_a_datetime_cannot_hold():
    tokyo = Clinic(slug="t", name="T", timezone="Asia/Tokyo")
    lower, upper = tokyo.day_span(date(1, 1, 1), date(9999, 12, 31))
    assert (lower, upper) == (None, None)
    lower, upper = tokyo.day_span(date(2026, 3, 1), date(2026, 3, 1))
    assert (lower.isoformat(), upper.isoformat()) == (
        "2026-03-01T00:00:00+09:00",
        "2026-03-02T00:00:00+09:00",
    )


def test_a_patient_search_with_a_nul_byte_answers_instead_of_failing(staff, login, patient):
    # The NUL is dropped (a reader cannot type one); the search itself still answers.
    response = login(staff["front_desk"]).post("/patients/", {"q": "Gar\x00cia"})
    assert response.status_code == 200
    assert (
        patient.mrn in login(staff["front_desk"]).post("/patients/", {"q": "Gar"}).content.decode()
    )
