"""In the browser: a biller approves a visit's charges, claims them and downloads the 837P;
the front desk takes a payment, the balance moves, and the superbill PDF downloads."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from ketaclinic.billing import services
from tests.billing.conftest import billing, code, cover, signed_session  # noqa: F401
from tests.browser.conftest import log_in, log_out, snap
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_biller_and_front_desk(page, clinic, staff, patient, billing):  # noqa: F811
    page.set_default_timeout(60_000)  # a shared, loaded machine
    code(patient)
    cover(patient, billing["commercial"])
    appt = signed_session(clinic, patient, staff, drug="esketamine", route="intranasal", mg=56)
    services.propose_for_appointment(appt)

    log_in(page, "banks", PASSWORD)
    page.wait_for_url("**/billing/")
    expect(page.get_by_role("heading", name="Visits to review")).to_be_visible()
    snap(page, "billing-home")
    page.get_by_role("link", name="Review", exact=True).click()
    expect(page.get_by_role("heading", name="Lines")).to_be_visible()
    snap(page, "billing-visit")
    page.get_by_role("button", name="Approve every line").click()
    expect(page.get_by_text("Every line approved.")).to_be_visible()
    page.get_by_role("button", name="Create the claim").click()
    expect(page.get_by_role("heading", name="Claim", exact=False).first).to_be_visible()
    snap(page, "billing-claim")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download the 837P file").click()
    text = open(info.value.path()).read()
    assert text.startswith("ISA*00*") and "SV1*HC:J0013*560*UN*56" in text
    log_out(page)

    log_in(page, "lee", PASSWORD)
    page.wait_for_url(lambda url: "/login/" not in url)
    page.goto(f"/billing/patients/{patient.pk}/")
    balance = page.get_by_test_id("balance")
    expect(balance).to_have_text("$670.00")
    page.get_by_label("Amount").fill("100")
    page.get_by_role("button", name="Record the payment").click()
    expect(page.get_by_test_id("balance")).to_have_text("$570.00")
    snap(page, "billing-account")
    with page.expect_download() as info:
        page.get_by_role("button", name="Superbill (PDF)").click()
    assert open(info.value.path(), "rb").read(5) == b"%PDF-"
