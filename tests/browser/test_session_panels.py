"""On a tablet, a session panel saves in place: a refused vitals entry keeps what was typed."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from ketaclinic.treatment import checklist as checklist_module
from ketaclinic.treatment import services
from ketaclinic.treatment.models import VitalReading
from tests.browser.conftest import TABLET, landed, log_in, snap
from tests.conftest import PASSWORD
from tests.treatment.conftest import actor, make_appointment, make_course

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def session(monkeypatch, clinic, staff, patient):
    from ketaclinic.scheduling.models import Room

    monkeypatch.setattr(checklist_module.gates, "missing_items", lambda **kw: [])
    patient.weight_measured_on = clinic.today()
    patient.save()
    room = Room.objects.create(clinic=clinic, name="Chair 1", kind="treatment_chair", position=1)
    course = make_course(
        clinic,
        patient,
        staff["physician"],
        "ketamine-iv-mood",
        "ketamine-iv-mood",
        dose_mg_per_kg=0.5,
        weight_basis="actual",
    )
    appointment = make_appointment(clinic, patient, course, room)
    return services.start_session(actor=actor(staff["nurse"]), appointment=appointment)


def field(page, name):
    """The label that holds the vitals input `name` (the field and its error)."""
    return page.locator("#vitals form.vitals-form").first.locator(f"label:has(input[name={name}])")


def save(page, button):
    """Click and wait for htmx to swap the answer in (no page load)."""
    with page.expect_response(lambda r: r.request.method == "POST"):
        button.click()
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )


def test_an_impossible_vital_is_refused_by_its_field_and_the_rest_is_kept(page, session, staff):
    assert page.viewport_size == TABLET
    page.set_default_timeout(30_000)  # the machine may be busy
    log_in(page, "okafor", PASSWORD)
    landed(page, f"/treatment/sessions/{session.pk}/")
    page.evaluate("window.stillTheSamePage = true")  # gone if the page reloads

    # Something typed in another panel, not yet saved.
    page.locator("#events summary", has_text="Record an adverse event").click()
    page.locator("#events textarea[name=note]").fill("Felt light-headed on arrival")

    form = page.locator("#vitals form.vitals-form").first
    typed = {
        "systolic": "400",
        "diastolic": "80",
        "heart_rate": "72",
        "spo2": "98",
        "respiratory_rate": "14",
        "temperature_c": "36.6",
    }
    for name, value in typed.items():
        form.locator(f"input[name={name}]").fill(value)
    save(page, form.get_by_role("button", name="Save vitals"))

    error = field(page, "systolic").locator(".error")
    expect(error).to_contain_text("Systolic BP 400 mmHg is not plausible")
    for name, value in typed.items():
        assert form.locator(f"input[name={name}]").input_value() == value
        if name != "systolic":
            assert field(page, name).locator(".error").count() == 0
    assert VitalReading.objects.filter(session=session).count() == 0
    assert page.locator("#events textarea[name=note]").input_value() == (
        "Felt light-headed on arrival"
    )
    assert page.evaluate("window.stillTheSamePage") is True
    snap(page, "treatment-session-vitals-refused")
    page.locator("#vitals").screenshot(
        path=str(snap(page, "treatment-session-vitals-panel-refused"))
    )

    # Corrected: it is recorded, the readings table shows it, the page never reloaded.
    form.locator("input[name=systolic]").fill("128")
    save(page, form.get_by_role("button", name="Save vitals"))
    expect(page.locator("#vitals .vitals-table")).to_contain_text("128/80")
    expect(page.locator(".messages")).to_contain_text("Vitals recorded (BP 128/80)")
    assert VitalReading.objects.filter(session=session).count() == 1
    assert page.locator("#vitals .error").count() == 0
    assert page.locator("#vitals input[name=systolic]").input_value() == ""
    assert page.evaluate("window.stillTheSamePage") is True
    assert page.locator("#events textarea[name=note]").input_value() == (
        "Felt light-headed on arrival"
    )
    snap(page, "treatment-session-vitals-saved")
    page.locator("#vitals").screenshot(path=str(snap(page, "treatment-session-vitals-panel-saved")))

    # Every form on the page now carries the new version: the next save is not refused.
    version = str(VitalReading.objects.get(session=session).session.version)
    versions = page.locator("input[name=version]")
    assert {versions.nth(i).input_value() for i in range(versions.count())} == {version}
    obs = page.locator("#vitals form.vitals-form").nth(1)
    obs.get_by_label("Observation").select_option("moaas")
    obs.get_by_label("Score").fill("5")
    save(page, obs.get_by_role("button", name="Save observation"))
    expect(page.locator("#vitals .observations")).to_contain_text("MOAA/S")
    assert "Someone else saved" not in page.locator("main").inner_text()
    assert page.evaluate("window.stillTheSamePage") is True
