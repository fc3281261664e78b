"""A nurse works the follow-up call list; a physician signs the end-of-induction review."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from ketaclinic.accounts.access import Actor
from ketaclinic.measures.services import record_response
from ketaclinic.scheduling.models import InductionReview
from ketaclinic.treatment.followup import create_follow_up
from ketaclinic.treatment.models import FollowUpAttempt, FollowUpCall
from ketaclinic.treatment.services import session_protocol
from tests import builders
from tests.browser.conftest import landed, log_in, log_out, snap
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def finished_induction(clinic, staff, patient):
    """Six completed IV infusions, PHQ-9 from 18 to 6, the last session three days ago.

    Sessions start at 11:00 in the clinic's zone, so the follow-up's due day (and "3 days
    overdue") does not depend on the hour the test runs.
    """
    now = timezone.now()
    today = clinic.today()

    def eleven(days_ago: int) -> datetime:
        return datetime.combine(today - timedelta(days=days_ago), time(11), tzinfo=clinic.tz)

    chair = builders.chair(clinic)
    course = builders.course(
        clinic,
        patient,
        staff["physician"].user,
        protocol_version=2,
        start_date=today - timedelta(days=14),
        activated_at=now - timedelta(days=15),
        **builders.iv_dose(),
    )
    nurse = Actor(user=staff["nurse"].user, membership=staff["nurse"])
    record_response(
        actor=nurse,
        patient=patient,
        instrument="phq9",
        answers=[2] * 8 + [0],
        taken_at=now - timedelta(days=15),
    )
    appointments = [
        builders.appointment(
            clinic,
            patient,
            course,
            chair,
            start=eleven(13 - 2 * i),
            minutes=100,
            status="completed",
        )
        for i in range(6)
    ]
    last = appointments[-1]
    session = builders.session(
        last,
        staff["nurse"].user,
        dose_started_at=last.start + timedelta(minutes=15),
        discharged_at=last.end,
    )
    create_follow_up(session, session_protocol(session), at=last.end - timedelta(days=1))
    record_response(
        actor=nurse, patient=patient, instrument="phq9", answers=[1] * 6 + [0] * 3, taken_at=now
    )
    return course


def test_a_nurse_works_the_call_list_and_a_physician_signs_the_review(
    page, staff, patient, finished_induction
):
    course = finished_induction
    call = FollowUpCall.objects.get()

    # The nurse opens the call list from the chair board: the call is 3 days overdue.
    log_in(page, "okafor", PASSWORD)
    landed(page)
    page.goto("/treatment/board/")
    page.get_by_role("link", name="Follow-up calls").click()
    row = page.locator("table.follow-up-calls tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Maria Garcia")
    expect(row).to_contain_text("3 days overdue")
    snap(page, "follow-up-calls-list")

    # No answer: the call stays on the list with its attempt.
    row.get_by_role("link", name="Call").click()
    page.get_by_label("Not reached (the call stays on the list)").check()
    page.get_by_role("button", name="Save the call").click()
    page.get_by_text("Attempt recorded; the call stays open.").wait_for()
    expect(page.locator("table.follow-up-calls tbody tr")).to_contain_text("3 days overdue")

    # Reached: asked about suicidality and side effects, the list is empty.
    page.get_by_role("link", name="Call").click()
    page.get_by_label("Reached", exact=True).check()
    page.get_by_label("No", exact=True).check()
    page.get_by_label("Urinary symptoms (pain, urgency, frequency, blood)").check()
    page.get_by_label("What the patient reported").fill("Some burning on passing urine.")
    snap(page, "follow-up-call-form")
    page.get_by_role("button", name="Save the call").click()
    page.get_by_text("Call recorded.").wait_for()
    expect(page.get_by_text("No open follow-up calls.")).to_be_visible()
    call.refresh_from_db()
    assert call.completed_at is not None
    assert [(a.reached, a.side_effects) for a in FollowUpAttempt.objects.order_by("pk")] == [
        (False, []),
        (True, ["urinary"]),
    ]
    # The nurse sees the review is due but cannot sign it.
    page.goto(f"/schedule/courses/{course.pk}/induction-review/")
    expect(page.get_by_text("Review due")).to_be_visible()
    expect(page.get_by_role("button", name="Sign the review")).to_have_count(0)
    log_out(page)

    # The physician finds the due review on the chart and signs "continue".
    log_in(page, "drchen", PASSWORD)
    page.goto(f"/patients/{patient.pk}/")
    page.get_by_role("link", name="End-of-induction review due").click()
    outcome = page.locator("table tbody tr", has_text="PHQ9")
    expect(outcome).to_contain_text("16")
    expect(outcome).to_contain_text("6")
    expect(outcome).to_contain_text("Yes")
    snap(page, "induction-review-due")
    page.get_by_label("Continue into maintenance").check()
    page.get_by_label("Maintenance sessions to plan").fill("4")
    page.get_by_role("button", name="Sign the review").click()
    page.get_by_text("End-of-induction review signed.").wait_for()
    review = InductionReview.objects.get()
    assert (review.decision, review.maintenance_sessions, review.signed_by) == (
        "continue",
        4,
        staff["physician"].user,
    )
    course.refresh_from_db()
    assert (course.phase, course.planned_sessions) == ("maintenance", 10)
    page.goto(f"/schedule/courses/{course.pk}/induction-review/")
    expect(page.get_by_text("Signed by Lena Chen")).to_be_visible()
    snap(page, "induction-review-signed")
