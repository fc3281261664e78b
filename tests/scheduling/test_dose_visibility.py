"""Dose orders (dose, reason, why a course stopped) only for dose.view: issue 14."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ketaclinic.scheduling import services
from ketaclinic.scheduling.models import TreatmentCourse
from tests.scheduling.conftest import actor

pytestmark = pytest.mark.django_db

SEES_DOSES = {
    "admin": True,
    "physician": True,
    "nurse": True,
    "therapist": False,
    "front_desk": False,
}


@pytest.fixture
def lowered(course, staff):
    """The course after the physician lowered its dose, with a reason."""
    reason = "Dissociation too strong at 0.5 mg/kg"
    doctor = actor(staff["physician"])
    services.change_dose(actor=doctor, course=course, reason=reason, dose_mg_per_kg=Decimal("0.4"))
    return course


def _leaves(value):
    """Every scalar in a JSON body, however deeply nested."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


@pytest.mark.parametrize("role", sorted(SEES_DOSES))
def test_the_course_shows_its_dose_only_to_roles_that_may_see_doses(
    role, lowered, staff, api_client
):
    course = lowered
    client = api_client(staff[role])
    body = client.get(f"/api/v1/courses/{course.pk}").json()
    listed = client.get(f"/api/v1/patients/{course.patient_id}/courses").json()[0]
    orders = client.get(f"/api/v1/courses/{course.pk}/dose-orders")
    if SEES_DOSES[role]:
        assert body["current_dose"]["dose_mg_per_kg"] == "0.400"
        assert body["current_dose"]["reason"] == "Dissociation too strong at 0.5 mg/kg"
        assert listed["current_dose"]["dose_mg_per_kg"] == "0.400"
        assert [o["dose_mg_per_kg"] for o in orders.json()] == ["0.400", "0.500"]
    else:
        assert body["current_dose"] is None and body["stop_reason"] is None
        assert listed["current_dose"] is None
        assert orders.status_code == 403
        # Compare whole values: a timestamp's milliseconds may read "…00.401Z".
        assert not {"0.400", "0.500"} & set(_leaves(body))
        assert not any("Dissociation" in str(v) for v in _leaves(body))
        assert "Dissociation" not in orders.content.decode()
    assert body["protocol"] == "ketamine-iv-mood"  # the course itself stays visible


@pytest.mark.parametrize("role", sorted(SEES_DOSES))
def test_why_a_course_stopped_is_shown_only_to_roles_that_may_see_doses(
    role, course, staff, api_client
):
    services.end_course(
        actor=actor(staff["physician"]),
        course=course,
        status="stopped",
        reason="Hypertensive crisis",
    )
    body = api_client(staff[role]).get(f"/api/v1/courses/{course.pk}").json()
    assert body["status"] == "stopped"
    assert body["stop_reason"] == ("Hypertensive crisis" if SEES_DOSES[role] else None)
    assert TreatmentCourse.objects.get(pk=course.pk).stop_reason == "Hypertensive crisis"


@pytest.mark.parametrize("role", sorted(SEES_DOSES))
def test_the_chart_shows_the_course_dose_only_to_roles_that_may_see_doses(
    role, course, staff, login
):
    page = login(staff[role]).get(f"/patients/{course.patient_id}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "IV ketamine infusion for depression" in html
    assert ("0.5 mg/kg" in html) is SEES_DOSES[role]
