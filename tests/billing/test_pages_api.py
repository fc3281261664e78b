"""The billing API (issue 20's routes) and pages, as every role, with valid, empty and hostile input."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from ketaclinic.audit.models import AuditEvent
from ketaclinic.billing import services
from ketaclinic.billing.models import (
    BillingProfile,
    Charge,
    ChargeChange,
    Claim,
    Coverage,
    Fee,
    Payer,
    Payment,
)
from tests.treatment.conftest import pdf_text

from .conftest import actor, code, cover, signed_session

pytestmark = pytest.mark.django_db
HOSTILE = "<script>alert(1)</script>\x00' OR 1=1 --"


@pytest.fixture
def esk_visit(clinic, staff, patient, billing):
    code(patient)
    cover(patient, billing["commercial"])
    appt = signed_session(clinic, patient, staff, drug="esketamine", route="intranasal", mg=56)
    services.propose_for_appointment(appt)
    return appt


@pytest.fixture
def iv_visit(clinic, staff, patient, billing):
    code(patient)
    appt = signed_session(
        clinic, patient, staff, drug="racemic_ketamine", route="iv", mg=35, minutes=50, ml="0.7"
    )
    services.propose_for_appointment(appt)
    return appt


def test_api_charges_approve_claim_x12(api_client, staff, esk_visit):
    biller = api_client(staff["biller"])
    got = biller.get(f"/api/v1/appointments/{esk_visit.pk}/charges")
    assert got.status_code == 200
    lines = got.json()["lines"]
    assert [(x["code"], x["units"], x["status"]) for x in lines] == [
        ("J0013", "56.00", "proposed"),
        ("99213", "1.00", "proposed"),
    ]
    assert set(lines[0]) >= {
        "id",
        "code",
        "modifiers",
        "units",
        "ndc",
        "diagnosis_pointers",
        "price",
        "status",
    }
    for line in lines:
        assert biller.post(f"/api/v1/charges/{line['id']}/approve").json()["status"] == "approved"
    assert biller.post(f"/api/v1/charges/{lines[0]['id']}/approve").status_code == 422
    made = biller.post(
        "/api/v1/claims", {"charges": [x["id"] for x in lines]}, content_type="application/json"
    )
    assert made.status_code == 201 and made.json()["status"] == "draft"
    claim_id = made.json()["id"]
    detail = biller.get(f"/api/v1/claims/{claim_id}").json()
    assert detail["total"] == "670.00" and detail["problems"] == []
    text = biller.get(f"/api/v1/claims/{claim_id}/x12")
    assert text["Content-Type"].startswith("text/plain")
    assert text.content.decode().startswith("ISA*00*")
    assert AuditEvent.objects.filter(action="claim_export").exists()
    # Nurses and front desk do not approve or claim.
    assert (
        api_client(staff["nurse"]).post(f"/api/v1/charges/{lines[0]['id']}/approve").status_code
        == 403
    )
    assert (
        api_client(staff["front_desk"])
        .post("/api/v1/claims", {"charges": [1]}, content_type="application/json")
        .status_code
        == 403
    )


def test_api_payment_moves_the_balance_clinicians_never_see_it(
    api_client, staff, patient, iv_visit
):
    for line in Charge.objects.filter(appointment=iv_visit):
        services.approve_charge(actor=actor(staff["biller"]), charge=line)
    desk = api_client(staff["front_desk"])
    before = desk.get(f"/api/v1/patients/{patient.pk}/balance").json()
    assert before["balance"] == "280.00"  # self-pay: (150 + 200) x 0.8
    paid = desk.post(
        "/api/v1/payments",
        {"patient_id": patient.pk, "amount": "80.00"},
        content_type="application/json",
    )
    assert paid.status_code == 201 and paid.json()["balance"] == "200.00"
    for bad in (
        {"patient_id": patient.pk, "amount": "-1"},
        {"patient_id": patient.pk, "amount": "1", "method": HOSTILE},
        {"patient_id": patient.pk},
    ):
        assert (
            desk.post("/api/v1/payments", bad, content_type="application/json").status_code == 422
        )
    assert Payment.objects.count() == 1
    for role in ("physician", "nurse", "therapist"):
        assert (
            api_client(staff[role]).get(f"/api/v1/patients/{patient.pk}/balance").status_code == 403
        )
    pdf = desk.get(f"/api/v1/patients/{patient.pk}/superbill?from=2020-01-01&to=2030-01-01")
    assert pdf["Content-Type"] == "application/pdf"
    text = pdf_text(pdf.content)
    for needed in (
        "Superbill",
        "Billing NPI",
        "TIN 12-3456789",
        "F33.2",
        "J3490",
        "96365",
        "12345005010",
        "$80.00",
        "Maria Garcia",
    ):
        assert needed in text, needed
    assert (
        desk.get(
            f"/api/v1/patients/{patient.pk}/superbill?from=2026-02-01&to=2026-01-01"
        ).status_code
        == 422
    )


def test_review_page_edit_with_reason_approve_and_claim(
    login, staff, esk_visit, django_assert_max_num_queries
):
    client = login(staff["biller"])
    url = f"/billing/visits/{esk_visit.pk}/"
    with django_assert_max_num_queries(40):
        page = client.get(url)
    assert page.status_code == 200 and "J0013" in page.content.decode()
    line = Charge.objects.filter(appointment=esk_visit).order_by("position").last()
    form = {
        "action": "edit",
        "charge": line.pk,
        "code": "99214",
        "modifiers": "25",
        "units": "1",
        "ndc": "",
        "ndc_quantity": "",
        "diagnosis_pointers": "1",
        "version": 1,
    }
    assert client.post(url, {**form, "reason": ""}).status_code == 422
    assert client.post(url, {**form, "code": HOSTILE, "reason": "x"}).status_code == 422
    assert client.post(url, {**form, "diagnosis_pointers": "7", "reason": "x"}).status_code == 422
    assert not ChargeChange.objects.exists()
    assert client.post(url, {**form, "reason": "Documented level 4"}).status_code == 302
    line.refresh_from_db()
    assert (line.code, line.modifiers, line.price) == ("99214", ["25"], None)  # no fee for 99214
    assert client.post(url, {"action": "approve", "charge": line.pk}).status_code == 422
    assert client.post(url, {"action": HOSTILE}).status_code == 422
    assert client.post(url, {"action": "approve", "charge": "abc"}).status_code == 404
    page = client.get(url).content.decode()
    assert "Documented level 4" in page and "No fee for this code" in page


def test_every_billing_page_as_every_role(login, staff, patient, esk_visit):
    claim_lines = list(Charge.objects.filter(appointment=esk_visit))
    for line in claim_lines:
        services.approve_charge(actor=actor(staff["biller"]), charge=line)
    claim = services.create_claim(
        actor=actor(staff["biller"]), charge_ids=[c.pk for c in claim_lines]
    )
    pages = {
        "/billing/": "billing.view",
        "/billing/aging/": "billing.view",
        f"/billing/visits/{esk_visit.pk}/": "billing.view",
        f"/billing/claims/{claim.pk}/": "billing.view",
        f"/billing/claims/{claim.pk}/837/": "billing.claim",
        f"/billing/patients/{patient.pk}/": "billing.view",
        f"/billing/patients/{patient.pk}/superbill.pdf": "billing.superbill",
        f"/billing/patients/{patient.pk}/statement.pdf": "billing.superbill",
        "/billing/setup/": "billing.setup",
        "/billing/remittance/": "billing.claim",
    }
    for role, member in staff.items():
        client = login(member)
        for url, action in pages.items():
            status = client.get(url).status_code
            if member.role in ("admin", "biller") or (
                member.role == "front_desk" and action in ("billing.view", "billing.superbill")
            ):
                assert status == 200, (role, url, status)
            else:
                assert status == 403, (role, url, status)


def test_account_page_payment_and_coverage_forms(login, staff, patient, billing, iv_visit):
    for line in Charge.objects.filter(appointment=iv_visit):
        services.approve_charge(actor=actor(staff["biller"]), charge=line)
    url = f"/billing/patients/{patient.pk}/"
    desk = login(staff["front_desk"])
    for bad in (
        {"pay-amount": ""},
        {"pay-amount": "-3"},
        {"pay-amount": HOSTILE},
        {"pay-amount": "5", "pay-method": HOSTILE},
    ):
        response = desk.post(
            url, {"action": "payment", "pay-method": "card", "pay-source": "patient", **bad}
        )
        assert response.status_code == 422
    assert not Payment.objects.exists()
    response = desk.post(
        url,
        {"action": "payment", "pay-amount": "25.50", "pay-method": "cash", "pay-source": "patient"},
    )
    assert response.status_code == 302
    assert services.balance_of(patient.clinic, patient.pk).balance == Decimal("254.50")
    assert "$254.50" in desk.get(url).content.decode()
    # Coverage is set up by billers, not the front desk.
    coverage = {
        "action": "coverage",
        "cov-payer": billing["medicare"].pk,
        "cov-member_id": "X1",
        "cov-relationship": "18",
        "cov-subscriber_given_name": "Maria",
        "cov-subscriber_family_name": "Garcia",
        "cov-subscriber_birth_date": "1984-03-07",
        "cov-subscriber_sex": "F",
        "cov-address_line": "1 Elm",
        "cov-city": "Portland",
        "cov-state": "ME",
        "cov-zip_code": "04101",
        "cov-priority": "1",
    }
    assert desk.post(url, coverage).status_code == 403
    biller = login(staff["biller"])
    assert biller.post(url, {**coverage, "cov-zip_code": HOSTILE}).status_code == 422
    assert biller.post(url, {"action": "coverage"}).status_code == 422
    assert not Coverage.objects.exists()
    assert biller.post(url, coverage).status_code == 302
    assert Coverage.objects.get().payer == billing["medicare"]


def test_setup_forms_check_npi_tin_and_fees(login, staff, clinic, billing):
    client = login(staff["biller"])
    profile = {
        "action": "profile",
        "profile-legal_name": "Harbor",
        "profile-npi": "1234567890",
        "profile-tin": "12-3456789",
        "profile-taxonomy": "2084P0800X",
        "profile-address_line": "1 Harbor St",
        "profile-city": "Portland",
        "profile-state": "ME",
        "profile-zip_code": "04101-1234",
        "profile-phone": "",
        "profile-place_of_service": "11",
        "profile-submitter_id": "S",
        "profile-receiver_id": "R",
    }
    assert client.post("/billing/setup/", profile).status_code == 422  # bad check digit
    assert client.post("/billing/setup/", {**profile, "profile-npi": HOSTILE}).status_code == 422
    assert client.post("/billing/setup/", {"action": "profile"}).status_code == 422
    assert BillingProfile.objects.get().npi != "1234567890"
    assert (
        client.post("/billing/setup/", {**profile, "profile-npi": "1234567893"}).status_code == 302
    )
    assert BillingProfile.objects.get().npi == "1234567893"
    # The first day billed here: a mistyped year is refused by field, nothing saved.
    far = {**profile, "profile-npi": "1234567893", "profile-bills_from": "2062-01-05"}
    refused = client.post("/billing/setup/", far)
    assert refused.status_code == 422 and "Choose a day within a year from today." in refused.text
    for hostile in (HOSTILE, "2026-02-30", "9999-99-99"):
        assert (
            client.post("/billing/setup/", {**far, "profile-bills_from": hostile}).status_code
            == 422
        )
    assert BillingProfile.objects.get().bills_from is None
    first_day = (clinic.today() - timedelta(days=30)).isoformat()
    assert (
        client.post("/billing/setup/", {**far, "profile-bills_from": first_day}).status_code == 302
    )
    assert BillingProfile.objects.get().bills_from.isoformat() == first_day
    fee = {
        "action": "fee",
        "fee-schedule": "standard",
        "fee-code": "99214",
        "fee-price": "150",
        "fee-effective_from": "2026-01-01",
        "fee-effective_to": "",
        "fee-description": "",
    }
    assert client.post("/billing/setup/", {**fee, "fee-price": "-1"}).status_code == 422
    assert (
        client.post("/billing/setup/", {**fee, "fee-effective_to": "2025-01-01"}).status_code == 422
    )
    assert client.post("/billing/setup/", {**fee, "fee-code": HOSTILE}).status_code == 422
    assert client.post("/billing/setup/", fee).status_code == 302
    assert Fee.objects.filter(code="99214").count() == 1
    payer = {
        "action": "payer",
        "payer-name": "Plan",
        "payer-payer_id": "60054",
        "payer-kind": "commercial",
        "payer-companion": "",
    }
    assert client.post("/billing/setup/", payer).status_code == 422  # the id is taken
    assert (
        client.post(
            "/billing/setup/", {**payer, "payer-payer_id": "P2", "payer-kind": HOSTILE}
        ).status_code
        == 422
    )
    assert client.post("/billing/setup/", {**payer, "payer-payer_id": "P2"}).status_code == 302
    assert Payer.objects.count() == 3
    assert login(staff["front_desk"]).post("/billing/setup/", fee).status_code == 403


def test_claim_page_status_and_correction(login, staff, esk_visit):
    lines = list(Charge.objects.filter(appointment=esk_visit))
    for line in lines:
        services.approve_charge(actor=actor(staff["biller"]), charge=line)
    claim = services.create_claim(actor=actor(staff["biller"]), charge_ids=[c.pk for c in lines])
    client = login(staff["biller"])
    url = f"/billing/claims/{claim.pk}/"
    assert client.post(url, {"action": "status", "status": "paid"}).status_code == 422
    assert client.post(url, {"action": "status", "status": HOSTILE}).status_code == 422
    for step in ("ready", "sent", "accepted"):
        assert (
            client.post(
                url, {"action": "status", "status": step, "payer_claim_number": "PCN9"}
            ).status_code
            == 302
        )
    assert client.post(url, {"action": "correct", "frequency_code": "1"}).status_code == 422
    response = client.post(url, {"action": "correct", "frequency_code": "7"})
    assert response.status_code == 302
    new = Claim.objects.exclude(pk=claim.pk).get()
    assert (new.frequency_code, new.replaces_id) == ("7", claim.pk)
    download = client.get(f"/billing/claims/{new.pk}/837/")
    assert b"REF*F8*PCN9~" in download.content


def test_835_remittance_posts_the_payer_payment(login, staff, patient, esk_visit):
    lines = list(Charge.objects.filter(appointment=esk_visit))
    for line in lines:
        services.approve_charge(actor=actor(staff["biller"]), charge=line)
    claim = services.create_claim(actor=actor(staff["biller"]), charge_ids=[c.pk for c in lines])
    era = (
        "~\n".join(
            [
                "ISA*00*          *00*          *ZZ*PAYER          *ZZ*KETACLINIC     *261101*1200*^*00501*000000005*0*T*:",
                "GS*HP*PAYER*KETACLINIC*20261101*1200*5*X*005010X221A1",
                "ST*835*0001",
                "BPR*I*500*C*ACH*CCP*01*999999999*DA*123456*1512345678**01*999999999*DA*654321*20261101",
                "TRN*1*EFT123*1512345678",
                "N1*PR*AETNA",
                "N3*1 PAYER WAY",
                "N4*HARTFORD*CT*06101",
                "PER*BL*CLAIMS*TE*8005551234",
                "N1*PE*HARBOR LIGHT*XX*1234567893",
                "LX*1",
                f"CLP*{claim.control_number}*1*670*500*50*12*PCN777",
                "CAS*CO*45*120",
                "NM1*QC*1*GARCIA*MARIA****MI*1EG4TE5MK72",
                "SE*13*0001",
                "GE*1*5",
                "IEA*1*000000005",
            ]
        )
        + "~\n"
    )
    client = login(staff["biller"])
    from django.core.files.uploadedfile import SimpleUploadedFile

    bad = client.post("/billing/remittance/", {"file": SimpleUploadedFile("x.835", b"junk")})
    assert bad.status_code == 422 and not Payment.objects.exists()
    ok = client.post("/billing/remittance/", {"file": SimpleUploadedFile("era.835", era.encode())})
    assert ok.status_code == 200
    claim.refresh_from_db()
    assert (claim.status, claim.payer_claim_number) == ("paid", "PCN777")
    payment = Payment.objects.get()
    assert (payment.amount, payment.adjustment, payment.source) == (
        Decimal("500.00"),
        Decimal("120.00"),
        "payer",
    )
    assert services.balance_of(patient.clinic, patient.pk).balance == Decimal("50.00")
