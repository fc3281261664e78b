"""The demo's billing: every signed session has charges by the rules, claims pass x12valid,
a self-pay IV patient's superbill is complete, a payment moves the balance."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.management import call_command

from ketaclinic.billing import services, x12
from ketaclinic.billing.models import BillingProfile, Charge, Claim
from ketaclinic.billing.numbers import npi_valid
from ketaclinic.scheduling.models import Appointment
from ketaclinic.treatment.models import TreatmentSession
from tests.treatment.conftest import pdf_text

from .conftest import actor
from .test_charges_claims import x12valid

pytestmark = pytest.mark.django_db


def test_demo_billing(tmp_path):
    call_command("seed_demo", stdout=open("/dev/null", "w"))
    profile = BillingProfile.objects.get(clinic__slug="harbor")
    assert npi_valid(profile.npi)
    # The outcomes archive is the clinic's history before it billed here: it ends before
    # the profile's first day, and the biller's review list holds none of it.
    archive = Appointment.objects.filter(patient__mrn__startswith="HX")
    assert archive.exists() and profile.bills_from
    assert max(profile.clinic.date_of(a.start) for a in archive) < profile.bills_from
    assert not Charge.objects.filter(patient__mrn__startswith="HX").exists()
    # Every signed session of the demo's current patients has its lines.
    signed = TreatmentSession.objects.filter(
        clinic__slug="harbor", nurse_signed_at__isnull=False
    ).exclude(patient__mrn__startswith="HX")
    assert signed.exists()
    for session in signed.select_related("appointment"):
        codes = list(
            Charge.objects.filter(appointment=session.appointment).values_list("code", flat=True)
        )
        assert codes, f"session {session.pk} has no charges"
        if session.drug == "esketamine":
            assert codes[0] in ("G2082", "G2083", "J0013"), codes
        elif session.route == "iv":
            assert codes[:2] in (["J3490", "96365"], ["J3490", "96374"]), codes
        else:
            assert codes[:2] == ["J3490", "96372"], codes
    # Signed therapy notes document their minutes: coded by band, none held for review.
    therapy = Charge.objects.filter(
        clinic__slug="harbor", appointment__kind__in=["integration", "preparation"]
    ).exclude(code="96127")
    assert therapy.exists()
    assert set(therapy.values_list("code", flat=True)) <= {"90832", "90834", "90837"}
    assert not Charge.objects.filter(clinic__slug="harbor", status="held").exists()
    consults = Charge.objects.filter(clinic__slug="harbor", appointment__kind="consultation")
    evaluations: dict[int, list[str]] = {}
    for line in consults.select_related("appointment__staff"):
        if line.code == "96127":
            continue  # a questionnaire scored at the visit is charged beside it
        evaluations.setdefault(line.appointment_id, []).append(line.code)
        assert (
            line.code == {"physician": "90792", "therapist": "90791"}[line.appointment.staff.role]
        ), line.code
    assert evaluations and all(len(codes) == 1 for codes in evaluations.values()), evaluations
    for line in Charge.objects.filter(clinic__slug="harbor", code="J3490"):
        assert len(line.ndc) == 11 and line.ndc_quantity
    claims = list(Claim.objects.filter(clinic__slug="harbor"))
    assert {c.coverage.payer.kind for c in claims} == {"medicare", "commercial"}
    assert x12.problems(profile, claims) == []
    assert x12valid(x12.render(profile, claims, control=77), tmp_path) == []
    # A self-pay IV patient's superbill, and a payment that moves the balance.
    line = (
        Charge.objects.filter(
            clinic__slug="harbor", code="96365", status="approved", coverage__isnull=True
        )
        .select_related("patient")
        .first()
    )
    patient = line.patient
    text = pdf_text(__import__("ketaclinic.billing.pdf", fromlist=["x"]).superbill_pdf(patient))
    for needed in (
        profile.npi,
        profile.tin,
        patient.family_name,
        "J3490",
        "96365",
        line.ndc or "",
        "Diagnoses (ICD-10-CM)",
        "Amount paid",
    ):
        assert needed in text, needed
    from ketaclinic.accounts.models import Membership

    desk = Membership.objects.get(user__username="frontdesk.lee", clinic__slug="harbor")
    before = services.balance_of(patient.clinic, patient.pk).balance
    services.record_payment(actor=actor(desk), patient=patient, amount="10.00")
    assert services.balance_of(patient.clinic, patient.pk).balance == before - Decimal("10.00")
    assert Membership.objects.filter(user__username="biller.banks", role="biller").exists()
    # The demo's portal patient finds a superbill on the portal's Documents page.
    from django.test import Client

    from ketaclinic.portal.models import PortalAccount

    account = PortalAccount.objects.select_related("user").get(clinic__slug="harbor")
    client = Client()
    client.force_login(account.user)
    page = client.get("/portal/documents/").content.decode()
    assert "Superbill" in page and "/portal/documents/superbills/" in page
