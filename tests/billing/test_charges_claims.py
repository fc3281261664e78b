"""Charges proposed from signed sessions, the biller's review, 837P claims checked by pyx12."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from ketaclinic.audit.models import AuditEvent
from ketaclinic.billing import services, x12
from ketaclinic.billing.models import BillingProfile, Charge, ChargeChange, Claim
from ketaclinic.billing.numbers import ndc11, npi_valid, npi_with_check_digit

from .conftest import FEES, actor, code, cover, signed_session

pytestmark = pytest.mark.django_db


def x12valid(text: str, tmp_path: Path) -> list:
    """Run pyx12's x12valid on the file; return its JSON errors (empty when valid)."""
    path = tmp_path / "claim.837"
    path.write_text(text)
    exe = Path(sys.executable).with_name("x12valid")
    run = subprocess.run(
        [str(exe), "-J", "-q", str(path)], capture_output=True, text=True, timeout=120
    )
    assert f"{path}: OK" in run.stderr, run.stderr
    report = json.loads((tmp_path / "claim.837.json").read_text())
    found: list = []

    def walk(node):
        if isinstance(node, dict):
            found.extend(node.get("errors", []))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(report)
    # A transaction or group the validator rejected says so in its acknowledgement code.
    for isa in report["interchanges"]:
        for gs in isa["groups"]:
            assert gs["ack_code"] == "A", gs
            for st in gs["transactions"]:
                assert st["ack_code"] == "A", st
    return found


def test_npi_check_digit_with_the_80840_prefix():
    assert npi_valid("1234567893")  # CMS's published example
    assert not npi_valid("1234567890")
    assert not npi_valid("123456789")
    assert npi_valid(npi_with_check_digit("987654321"))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("50458-028-02", "50458002802"),
        ("1234-5678-90", "01234567890"),
        ("12345-678-90", "12345067890"),
        ("12345-6789-0", "12345678900"),
        ("12345678901", "12345678901"),
        ("1234567890", None),
        ("x", None),
    ],
)
def test_ndc_to_eleven_digits(raw, expected):
    assert ndc11(raw) == expected


def test_a_signed_iv_session_gets_its_lines_priced_from_the_self_pay_schedule(
    clinic, staff, patient, billing
):
    code(patient)
    appt = signed_session(
        clinic,
        patient,
        staff,
        drug="racemic_ketamine",
        route="iv",
        mg=35,
        minutes=100,
        ml="0.7",
        pauses=[(30, 40)],
    )
    lines = services.propose_for_appointment(appt)
    # 100 minutes less a 10-minute pause: 90, so no added hour.
    assert [(c.code, c.units) for c in lines] == [("J3490", 1), ("96365", 1)]
    drug = lines[0]
    assert (drug.ndc, drug.ndc_unit, drug.ndc_quantity) == ("12345005010", "ML", Decimal("0.7"))
    assert drug.price == Decimal("120.00")  # self-pay: 150 x 0.8
    assert drug.diagnoses == ["F33.2"] and drug.diagnosis_pointers == [1]
    assert services.propose_for_appointment(appt) == []  # once


def test_medicare_esketamine_by_the_devices_given(clinic, staff, patient, billing):
    code(patient)
    cover(patient, billing["medicare"])
    appt = signed_session(clinic, patient, staff, drug="esketamine", route="intranasal", mg=84)
    assert [c.code for c in services.propose_for_appointment(appt)] == ["G2083"]


def test_the_signature_proposes_through_the_hook(clinic, staff, patient, billing):
    from ketaclinic.treatment import hooks

    code(patient)
    appt = signed_session(
        clinic, patient, staff, drug="racemic_ketamine", route="im", mg=50, ml="1"
    )
    hooks.session_signed(actor(staff["nurse"]), appt.treatment_session)
    assert list(Charge.objects.filter(appointment=appt).values_list("code", flat=True)) == [
        "J3490",
        "96372",
    ]


def test_an_unsigned_session_gets_nothing(clinic, staff, patient, billing):
    appt = signed_session(
        clinic, patient, staff, drug="racemic_ketamine", route="iv", mg=35, minutes=40, ml="0.7"
    )
    appt.treatment_session.__class__.objects.filter(pk=appt.treatment_session.pk).update(
        nurse_signed_at=None
    )
    assert services.propose_for_appointment(appt) == []


def _esk_charges(clinic, staff, patient, billing, payer="commercial"):
    code(patient)
    cover(patient, billing[payer])
    appt = signed_session(clinic, patient, staff, drug="esketamine", route="intranasal", mg=56)
    return services.propose_for_appointment(appt)


def test_review_edit_keeps_history_and_approval_needs_the_biller(clinic, staff, patient, billing):
    lines = _esk_charges(clinic, staff, patient, billing)
    assert [(c.code, c.units, c.price) for c in lines] == [
        ("J0013", 56, Decimal("560.00")),
        ("99213", 1, Decimal("110.00")),
    ]
    biller = actor(staff["biller"])
    with pytest.raises(ValidationError):
        services.edit_charge(
            actor=biller, charge=lines[1], changes={"code": "99214"}, reason=" ", version=1
        )
    edited = services.edit_charge(
        actor=biller,
        charge=lines[1],
        changes={"modifiers": "25", "units": "1"},
        reason="Payer rule",
        version=1,
    )
    assert edited.modifiers == ["25"]
    change = ChargeChange.objects.get(charge=edited)
    assert (change.field, change.new_value, change.by) == ("modifiers", "25", staff["biller"].user)
    with pytest.raises(ValidationError):
        services.edit_charge(
            actor=biller, charge=lines[0], changes={"ndc": "junk"}, reason="x", version=1
        )
    assert Charge.objects.get(pk=lines[0].pk).ndc == ""
    for role in ("nurse", "physician", "front_desk", "therapist"):
        with pytest.raises(PermissionDenied):
            services.approve_charge(actor=actor(staff[role]), charge=lines[0])
    services.approve_charge(actor=biller, charge=lines[0])
    assert Charge.objects.get(pk=lines[0].pk).status == "approved"
    assert AuditEvent.objects.filter(action="charge_approve", patient_id=patient.pk).exists()


def test_a_line_without_a_diagnosis_is_not_approved(clinic, staff, patient, billing):
    cover(patient, billing["medicare"])
    appt = signed_session(clinic, patient, staff, drug="esketamine", route="intranasal", mg=56)
    (line,) = services.propose_for_appointment(appt)
    with pytest.raises(ValidationError, match="diagnosis"):
        services.approve_charge(actor=actor(staff["biller"]), charge=line)


def _claim(clinic, staff, patient, billing, payer="commercial"):
    lines = _esk_charges(clinic, staff, patient, billing, payer)
    biller = actor(staff["biller"])
    for line in lines:
        services.approve_charge(actor=biller, charge=line)
    return services.create_claim(actor=biller, charge_ids=[c.pk for c in lines])


def test_claim_837p_is_valid_for_pyx12_and_our_checks(clinic, staff, patient, billing, tmp_path):
    claim = _claim(clinic, staff, patient, billing)
    profile = BillingProfile.objects.get(clinic=clinic)
    assert x12.problems(profile, [claim]) == []
    text = x12.render(profile, [claim], control=claim.pk)
    assert "SV1*HC:J0013*560*UN*56***1~" in text
    assert "CLM*" + claim.control_number + "*670***11:B:1*Y*A*Y*Y~" in text
    assert "HI*ABK:F332~" in text
    assert x12valid(text, tmp_path) == []


def test_iv_claim_has_the_ndc_in_lin_and_is_valid(clinic, staff, patient, billing, tmp_path):
    code(patient)
    code(patient, "F41.1")
    cover(patient, billing["commercial"], relationship="01")
    appt = signed_session(
        clinic, patient, staff, drug="racemic_ketamine", route="iv", mg=35, minutes=151, ml="0.7"
    )
    biller = actor(staff["biller"])
    lines = services.propose_for_appointment(appt)
    for line in lines:
        services.approve_charge(actor=biller, charge=line)
    claim = services.create_claim(actor=biller, charge_ids=[c.pk for c in lines])
    text = x12.render(BillingProfile.objects.get(clinic=clinic), [claim], control=1)
    assert "LIN**N4*12345005010~\nCTP****0.7*ML~" in text
    assert "SV1*HC:J3490:::::KETAMINE HCL*150*UN*1***1:2~" in text
    assert "SV1*HC:96366*120*UN*2***1:2~" in text
    assert "HL*3*2*23*0~\nPAT*01~" in text  # the patient is the subscriber's spouse
    assert x12valid(text, tmp_path) == []


def test_correction_resends_with_frequency_7_and_the_payer_claim_number(
    clinic, staff, patient, billing, tmp_path
):
    claim = _claim(clinic, staff, patient, billing, payer="medicare")
    biller = actor(staff["biller"])
    with pytest.raises(ValidationError):
        services.correct_claim(actor=biller, claim=claim, frequency_code="7")  # still a draft
    services.set_claim_status(actor=biller, claim=claim, status="ready")
    services.set_claim_status(actor=biller, claim=claim, status="sent")
    services.set_claim_status(
        actor=biller, claim=claim, status="accepted", payer_claim_number="PCN12345"
    )
    with pytest.raises(ValidationError):
        services.set_claim_status(actor=biller, claim=claim, status="draft")
    new = services.correct_claim(actor=biller, claim=claim, frequency_code="7")
    text = x12.render(BillingProfile.objects.get(clinic=clinic), [new], control=2)
    assert ":B:7*" in text and "REF*F8*PCN12345~" in text
    assert x12valid(text, tmp_path) == []


def test_batch_of_two_claims_counts_hl_in_order(clinic, staff, patient, billing, tmp_path):
    first = _claim(clinic, staff, patient, billing)
    second_appt = signed_session(
        clinic,
        patient,
        staff,
        drug="esketamine",
        route="intranasal",
        mg=84,
        when=timezone.now() - timedelta(days=2),
    )
    biller = actor(staff["biller"])
    lines = services.propose_for_appointment(second_appt)
    for line in lines:
        services.approve_charge(actor=biller, charge=line)
    second = services.create_claim(actor=biller, charge_ids=[c.pk for c in lines])
    text = x12.render(BillingProfile.objects.get(clinic=clinic), [first, second], control=3)
    assert [s.split("*")[1] for s in text.split("~\n") if s.startswith("HL*")] == ["1", "2", "3"]
    assert x12valid(text, tmp_path) == []


def test_claims_refuse_self_pay_unapproved_and_double_claimed_lines(
    clinic, staff, patient, billing
):
    claim = _claim(clinic, staff, patient, billing)
    biller = actor(staff["biller"])
    with pytest.raises(ValidationError):
        services.create_claim(actor=biller, charge_ids=[c.pk for c in claim.charges.all()])
    code(patient)
    other = signed_session(
        clinic,
        patient,
        staff,
        drug="racemic_ketamine",
        route="im",
        mg=50,
        ml="1",
        when=timezone.now() - timedelta(days=3),
    )
    Charge.objects.filter(coverage__isnull=False).count()
    lines = services.propose_for_appointment(other)
    with pytest.raises(ValidationError, match="approved"):
        services.create_claim(actor=biller, charge_ids=[lines[0].pk])
    assert Claim.objects.count() == 1


def test_payments_move_the_balance_and_age(clinic, staff, patient, billing):
    code(patient)
    appt = signed_session(
        clinic,
        patient,
        staff,
        drug="racemic_ketamine",
        route="iv",
        mg=35,
        minutes=45,
        ml="0.7",
        when=timezone.now() - timedelta(days=40),
    )
    biller = actor(staff["biller"])
    for line in services.propose_for_appointment(appt):
        services.approve_charge(actor=biller, charge=line)
    assert services.balance_of(clinic, patient.pk).balance == Decimal("280.00")
    row = services.aging(clinic)[0]
    assert row["cells"][1] == Decimal("280.00")
    desk = actor(staff["front_desk"])
    with pytest.raises(ValidationError):
        services.record_payment(actor=desk, patient=patient, amount="-5")
    with pytest.raises(PermissionDenied):
        services.record_payment(actor=actor(staff["nurse"]), patient=patient, amount="5")
    services.record_payment(actor=desk, patient=patient, amount="100", method="card")
    assert services.balance_of(clinic, patient.pk).balance == Decimal("180.00")
    services.record_payment(actor=desk, patient=patient, amount="180", method="cash")
    assert services.balance_of(clinic, patient.pk).balance == Decimal("0.00")
    assert services.aging(clinic) == []


def test_the_validator_does_catch_a_broken_file(clinic, staff, patient, billing, tmp_path):
    claim = _claim(clinic, staff, patient, billing)
    text = x12.render(BillingProfile.objects.get(clinic=clinic), [claim], control=9)
    broken = text.replace("REF*EI*123456789~\n", "").replace("SE*", "SE*9")
    with pytest.raises(AssertionError):
        assert x12valid(broken, tmp_path) == []


def test_the_worker_sweep_bills_completed_consultations_and_signed_notes(
    clinic, staff, patient, billing
):
    from ketaclinic.integration.models import ProgressNote
    from ketaclinic.scheduling.models import Appointment, Room

    code(patient)
    room = Room.objects.create(clinic=clinic, name="Office", kind="consult_room", position=1)
    start = timezone.now() - timedelta(days=1)
    consult = Appointment.objects.create(
        clinic=clinic,
        patient=patient,
        kind="consultation",
        room=room,
        start=start,
        end=start + timedelta(minutes=60),
        status="completed",
        staff=staff["physician"],
    )
    therapy = Appointment.objects.create(
        clinic=clinic,
        patient=patient,
        kind="integration",
        room=room,
        start=start + timedelta(hours=2),
        end=start + timedelta(hours=3),
        status="completed",
        staff=staff["therapist"],
    )
    note = ProgressNote.objects.create(
        clinic=clinic,
        patient=patient,
        appointment=therapy,
        author=staff["therapist"].user,
        template="dap",
        psychotherapy_minutes=45,
    )
    assert services.propose_missing() == 1
    assert list(Charge.objects.filter(appointment=consult).values_list("code", flat=True)) == [
        "90792"
    ]
    assert not Charge.objects.filter(appointment=therapy).exists()  # the note is not signed
    ProgressNote.objects.filter(pk=note.pk).update(signed_at=timezone.now())
    assert services.propose_missing() == 1
    # 45 minutes documented (booked for 60, which would be 90837): 90834.
    assert list(Charge.objects.filter(appointment=therapy).values_list("code", flat=True)) == [
        "90834"
    ]
    assert services.propose_missing() == 0


def _therapy_visit(clinic, staff, patient, *, minutes, booked=60, kind="integration"):
    """A signed progress note on a therapy visit booked for `booked` minutes."""
    from ketaclinic.integration.models import ProgressNote
    from ketaclinic.scheduling.models import Appointment, Room

    room = Room.objects.get_or_create(
        clinic=clinic, name="Therapy", kind="therapy_room", position=5
    )[0]
    start = timezone.now() - timedelta(hours=4)
    visit = Appointment.objects.create(
        clinic=clinic,
        patient=patient,
        kind=kind,
        room=room,
        start=start,
        end=start + timedelta(minutes=booked),
        status="completed",
        staff=staff["therapist"],
    )
    ProgressNote.objects.create(
        clinic=clinic,
        patient=patient,
        appointment=visit,
        author=staff["therapist"].user,
        template="dap",
        psychotherapy_minutes=minutes,
        signed_at=timezone.now(),
    )
    return visit


@pytest.mark.parametrize(
    ("minutes", "booked", "expected"),
    [
        (15, 60, []),
        (16, 30, ["90832"]),
        (37, 60, ["90832"]),
        (38, 30, ["90834"]),
        (52, 60, ["90834"]),
        (53, 45, ["90837"]),
    ],
)
def test_a_therapy_visit_is_billed_by_the_notes_minutes_not_the_booking(
    clinic, staff, patient, billing, minutes, booked, expected
):
    code(patient)
    visit = _therapy_visit(clinic, staff, patient, minutes=minutes, booked=booked)
    lines = services.propose_for_appointment(visit)
    assert [(c.code, c.status) for c in lines] == [(e, "proposed") for e in expected]
    if lines:
        assert lines[0].note == f"{minutes} min documented."
        assert lines[0].price == Decimal(FEES[expected[0]]) * Decimal("0.8")  # self-pay


def test_a_note_without_minutes_holds_the_line_for_the_biller(clinic, staff, patient, billing):
    code(patient)
    visit = _therapy_visit(clinic, staff, patient, minutes=None, booked=60)
    (line,) = services.propose_for_appointment(visit)
    assert (line.code, line.status, line.price) == ("", "held", None)
    assert "documents no psychotherapy minutes" in line.note
    biller = actor(staff["biller"])
    with pytest.raises(ValidationError, match="Held for review: The signed progress note"):
        services.approve_charge(actor=biller, charge=line)
    assert Charge.objects.get(pk=line.pk).status == "held"
    # The biller reads the note and chooses the code with a reason: then it can be approved.
    edited = services.edit_charge(
        actor=biller,
        charge=line,
        changes={"code": "90834"},
        reason="Therapist confirmed 45 min",
        version=1,
    )
    assert (edited.code, edited.status, edited.price, edited.version) == (
        "90834",
        "proposed",
        Decimal("104.00"),
        2,
    )
    assert services.approve_charge(actor=biller, charge=edited).status == "approved"


def test_a_therapists_consultation_is_90791_a_physicians_90792(clinic, staff, patient, billing):
    from ketaclinic.scheduling.models import Appointment, Room

    code(patient)
    room = Room.objects.create(clinic=clinic, name="Office", kind="consult_room", position=1)
    start = timezone.now() - timedelta(days=1)
    found = {}
    for role in ("physician", "therapist", "nurse"):
        visit = Appointment.objects.create(
            clinic=clinic,
            patient=patient,
            kind="consultation",
            room=room,
            start=start,
            end=start + timedelta(minutes=60),
            status="completed",
            staff=staff[role],
        )
        found[role] = [(c.code, c.status) for c in services.propose_for_appointment(visit)]
    assert found == {
        "physician": [("90792", "proposed")],
        "therapist": [("90791", "proposed")],
        "nurse": [("", "held")],
    }


def test_visits_before_the_day_billing_starts_here_are_not_proposed_on_their_own(
    clinic, staff, patient, billing, login
):
    """History billed in a previous system: neither the signature nor the worker's sweep
    proposes it, and the biller can still propose one from its page."""
    from ketaclinic.treatment import hooks

    code(patient)
    today = clinic.today()
    BillingProfile.objects.filter(clinic=clinic).update(bills_from=today - timedelta(days=2))
    now = timezone.now()
    old = signed_session(
        clinic, patient, staff, drug="racemic_ketamine", route="im", mg=50, ml="1",
        when=now - timedelta(days=4),
    )  # fmt: skip
    hooks.session_signed(actor(staff["nurse"]), old.treatment_session)
    assert not Charge.objects.filter(appointment=old).exists()
    assert services.before_billing_starts(old)
    from ketaclinic.scheduling.models import Appointment

    Appointment.objects.bulk_create(
        Appointment(
            clinic=clinic,
            patient=patient,
            kind="consultation",
            room=old.room,
            start=now - timedelta(days=5, minutes=n),
            end=now - timedelta(days=5, minutes=n - 1),
            status="completed",
            staff=staff["physician"],
        )  # fmt: skip
        for n in range(3)
    )
    new = signed_session(
        clinic, patient, staff, drug="racemic_ketamine", route="im", mg=50, ml="1",
        when=now - timedelta(hours=5),
    )  # fmt: skip
    assert not services.before_billing_starts(new)
    assert services.propose_missing() == 1
    assert Charge.objects.filter(appointment=new).exists()
    assert Charge.objects.filter(clinic=clinic).exclude(appointment=new).count() == 0
    # The visit's page says why it has no lines; the biller proposes it on purpose.
    client = login(staff["biller"])
    page = client.get(f"/billing/visits/{old.pk}/")
    assert "before the day this clinic bills from" in page.text
    client.post(f"/billing/visits/{old.pk}/", {"action": "propose"})
    assert list(Charge.objects.filter(appointment=old).values_list("code", flat=True)) == [
        "J3490",
        "96372",
    ]
    # Without a first day, every visit is billed again.
    BillingProfile.objects.filter(clinic=clinic).update(bills_from=None)
    assert services.propose_missing() == 3  # the old consultations
