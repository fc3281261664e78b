"""The series proposal comes from the CP-SAT planner, and says when it fell back to greedy."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from ketaclinic.clinical import scheduling_cpsat
from ketaclinic.scheduling.models import Appointment
from tests.scheduling.conftest import next_monday

pytestmark = pytest.mark.django_db

OPTIMISED = "planned by the optimiser (OR-Tools CP-SAT, optimal)"
GREEDY = (
    "planned by the greedy planner (earliest free slot): the optimiser found no better plan in time"
)


def plan(client, course, body=None):
    return client.post(
        f"/api/v1/courses/{course.pk}/plan", body or {}, content_type="application/json"
    )


def test_the_proposal_is_the_optimisers_and_says_so(staff, floor, course, api_client):
    response = plan(api_client(staff["front_desk"]), course)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["notes"][-1].startswith(OPTIMISED)
    assert len(body["sessions"]) == 6 and all(s["in_window"] for s in body["sessions"])
    assert {s["room_name"] for s in body["sessions"]} == {"Chair 1"}
    assert Appointment.objects.count() == 0


def test_when_the_solver_gives_no_answer_the_greedy_plan_is_proposed_and_named(
    staff, floor, course, api_client, monkeypatch
):
    optimised = plan(api_client(staff["front_desk"]), course).json()
    monkeypatch.setattr(scheduling_cpsat._Model, "solve", lambda self, limit: ("UNKNOWN", None))
    fallback = plan(api_client(staff["front_desk"]), course).json()
    assert fallback["notes"][-1] == GREEDY
    # Here the greedy plan is already the best one: the same sessions either way.
    assert [s["start"] for s in fallback["sessions"]] == [s["start"] for s in optimised["sessions"]]


def test_the_series_page_shows_which_planner_made_the_proposal(
    client, staff, floor, course, monkeypatch
):
    client.force_login(staff["front_desk"].user)
    form = {
        "action": "plan",
        "course": course.pk,
        "weekdays": ["0", "2", "4"],
        "earliest": "09:00",
        "latest_start": "15:00",
    }
    page = client.post(reverse("schedule_series"), form)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Planned by the optimiser (OR-Tools CP-SAT, optimal)" in html
    assert html.count("✓ inside") == 6
    monkeypatch.setattr(scheduling_cpsat._Model, "solve", lambda self, limit: ("UNKNOWN", None))
    html = client.post(reverse("schedule_series"), form).content.decode()
    assert "Planned by the greedy planner (earliest free slot)" in html
    first = next_monday()
    assert first.strftime("%a") in html and (first + timedelta(days=2)).strftime("%a") in html
