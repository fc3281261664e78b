"""A therapist's day: a preparation session, an integration session two days after dosing,
a signed progress note, a private psychotherapy note, goals and a practice; the physician
reads the record and never the private note."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from ketaclinic.integration.models import ProgressNote, PsychotherapyNote, TreatmentPlan
from ketaclinic.scheduling.models import Appointment, Room
from tests.browser.conftest import landed, log_in, log_out, snap
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PRIVATE = "Closed-door image returns; explore next time (private 4412)"


@pytest.fixture
def therapy_day(clinic, staff, patient):
    now = timezone.now().replace(second=0, microsecond=0)
    room = Room.objects.create(clinic=clinic, name="Therapy 1", kind="therapy_room")
    chair = Room.objects.create(clinic=clinic, name="Chair 1", kind="treatment_chair")

    def book(kind, start, room, status):
        return Appointment.objects.create(
            clinic=clinic,
            patient=patient,
            kind=kind,
            room=room,
            staff=staff["therapist"] if kind != "treatment" else staff["nurse"],
            start=start,
            end=start + timedelta(hours=1 if kind != "treatment" else 2),
            status=status,
        )

    return {
        "preparation": book("preparation", now - timedelta(days=4), room, "completed"),
        "dose": book("treatment", now - timedelta(days=2), chair, "completed"),
        "integration": book("integration", now - timedelta(minutes=50), room, "in_progress"),
    }


def test_a_therapist_runs_preparation_and_integration_and_the_physician_never_sees_the_private_note(
    page, staff, patient, therapy_day
):
    page.set_default_timeout(60_000)  # a loaded shared machine
    log_in(page, "rivera", PASSWORD)
    landed(page, "/integration/")
    expect(page.get_by_role("heading", name="Integration", exact=True)).to_be_visible()
    expect(page.locator("section", has_text="Today")).to_contain_text("Maria Garcia")
    snap(page, "integration-workspace")

    # The preparation session's progress note (DAP), signed at once.
    page.goto(
        f"/integration/patients/{patient.pk}/notes/new/?appointment={therapy_day['preparation'].pk}"
    )
    page.get_by_label("Data (what was observed and said)").fill(
        "Discussed intentions, set and setting."
    )
    page.get_by_label("Plan", exact=True).fill("First dose on Monday; integration within 72 h.")
    page.get_by_label("No risk identified").check()
    page.get_by_label("Sign the note now").check()
    page.get_by_role("button", name="Save the note").click()
    page.get_by_text("Progress note signed.").wait_for()

    # The integration session, two days after the dose: SOAP, then signed on its page.
    page.goto(
        f"/integration/patients/{patient.pk}/notes/new/?appointment={therapy_day['integration'].pk}"
    )
    page.get_by_label("Template").select_option("soap")
    page.get_by_label("Subjective (the patient's account)").fill(
        "Felt a sense of distance from worries."
    )
    page.get_by_label("Themes from the dosing experience").fill("Connection, letting go")
    page.get_by_label("Homework").fill("Journal prompt: what felt different?")
    page.get_by_label("No risk identified").check()
    snap(page, "integration-progress-note-form")
    page.get_by_role("button", name="Save the note").click()
    page.get_by_text("Progress note saved (not signed yet).").wait_for()
    page.get_by_role("button", name="Sign the note").click()
    page.get_by_text("Progress note signed.").wait_for()
    snap(page, "integration-progress-note-signed")

    # A private psychotherapy note.
    page.goto(
        f"/integration/patients/{patient.pk}/private/new/?appointment={therapy_day['integration'].pk}"
    )
    page.get_by_label("Psychotherapy note (private)").fill(PRIVATE)
    page.get_by_role("button", name="Save the private note").click()
    page.get_by_text("Private note saved. Only you can read it.").wait_for()
    snap(page, "integration-private-note")

    # Goals in the patient's words, and a practice.
    page.goto(f"/integration/patients/{patient.pk}/plan/")
    goal = page.locator("fieldset.goal-row").first
    goal.get_by_label("Goal, in the patient's words").fill("I want to enjoy mornings again")
    goal.get_by_label("Measured by").select_option("personal")
    goal.get_by_label("Personal scale (0-10) name").fill("Enjoying mornings")
    goal.get_by_label("Baseline").fill("2")
    goal.get_by_label("Target").fill("7")
    page.get_by_role("button", name="Save the plan").click()
    page.get_by_text("Treatment plan saved.").wait_for()
    page.locator("details summary", has_text="Add a practice").click()
    page.get_by_label("Practice").select_option("breathing")
    page.get_by_label("Title").fill("Box breathing, five minutes each morning")
    page.get_by_role("button", name="Add the practice").click()
    page.get_by_text("Practice added.").wait_for()
    page.get_by_label("Rating today for goal 1").fill("4")
    page.get_by_role("button", name="Rate").click()
    page.get_by_text("Rating saved.").wait_for()
    expect(page.locator("table.goals")).to_contain_text("I want to enjoy mornings again")
    snap(page, "integration-timeline")
    page.set_viewport_size({"width": 390, "height": 844})
    snap(page, "integration-timeline-phone")
    page.set_viewport_size({"width": 1024, "height": 768})
    log_out(page)

    assert ProgressNote.objects.filter(signed_at__isnull=False).count() == 2
    assert PsychotherapyNote.objects.count() == 1
    assert TreatmentPlan.objects.get().goals.count() == 1

    # The physician reads the progress notes, the goals on the chart, never the private note.
    log_in(page, "drchen", PASSWORD)
    landed(page, f"/integration/patients/{patient.pk}/")
    expect(page.locator("body")).to_contain_text("Signed")
    expect(page.locator("body")).not_to_contain_text(PRIVATE)
    # A physician may keep private notes of their own; the therapist's is not among them.
    expect(page.locator("section", has_text="Your private notes")).to_contain_text("None.")
    page.goto(f"/patients/{patient.pk}/")
    expect(page.locator(".integration-panel")).to_contain_text("I want to enjoy mornings again")
    expect(page.locator("body")).not_to_contain_text(PRIVATE)
    snap(page, "integration-chart-physician")
    note = PsychotherapyNote.objects.get()
    response = page.goto(f"/integration/private/{note.pk}/")
    assert response.status == 404
