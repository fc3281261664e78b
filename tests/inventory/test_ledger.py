"""The ledger balances to the milligram; it never goes negative, is never edited or deleted."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, OperationalError, connection, transaction
from django.utils import timezone

from ketaclinic.audit.models import AuditEvent
from ketaclinic.clinical.dea import dea_number_problem, with_check_digit
from ketaclinic.inventory import services
from ketaclinic.inventory.models import (
    AppendOnly,
    Container,
    ContainerState,
    Kind,
    LedgerEntry,
    LossReport,
    Lot,
)
from ketaclinic.inventory.rules import loss_deadlines
from ketaclinic.patients.models import Patient
from tests.conftest import PASSWORD
from tests.inventory.conftest import actor, make_session, witness_request
from tests.patching import patch_everywhere

pytestmark = pytest.mark.django_db


def test_it_balances_to_the_milligram_after_receive_administer_and_waste(
    lot, nurse, patient, staff, session
):
    given = services.post_administration(
        actor=nurse,
        lot=lot,
        quantity="0.7",
        unit="mL",
        patient=patient,
        session_ref=session,
        given_at=timezone.now(),
    )
    waste = services.post_waste_pending_witness(
        actor=nurse,
        lot=lot,
        quantity="9.3",
        unit="mL",
        patient=patient,
        session_ref=session,
        manner="into drug-disposal container",
        witness="drchen",
    )
    assert (given.mg, given.balance_after) == (Decimal("35.000"), Decimal("99.300"))
    assert (waste.mg, waste.balance_after) == (Decimal("465.000"), Decimal("90.000"))
    assert services.current_balance(lot, waste.location) == Decimal("90")
    [balance] = services.balances(lot.clinic)
    assert (balance.quantity, balance.mg, balance.sealed, balance.opened) == (
        Decimal("90.000"),
        Decimal("4500.000"),
        9,
        0,
    )
    states = list(Container.objects.filter(lot=lot).values_list("state", flat=True).order_by("seq"))
    assert states == ["emptied"] + ["sealed"] * 9
    assert given.recorded_by == staff["nurse"].user
    assert AuditEvent.objects.filter(
        action="create", object_id=str(given.pk), patient_id=patient.pk
    ).exists()


def test_a_partly_used_vial_is_opened_and_the_remaining_containers_add_up(
    lot, nurse, patient, session
):
    services.post_administration(
        actor=nurse,
        lot=lot,
        quantity="12.5",
        unit="mL",
        patient=patient,
        session_ref=session,
        given_at=None,
    )
    remaining = list(
        Container.objects.filter(lot=lot).order_by("seq").values_list("state", "remaining")[:3]
    )
    assert remaining == [
        ("emptied", Decimal("0.000")),
        ("opened", Decimal("7.500")),
        ("sealed", Decimal("10.000")),
    ]
    total = sum(Container.objects.filter(lot=lot).values_list("remaining", flat=True))
    assert total == services.current_balance(lot, services.default_location(lot.clinic))


def test_a_balance_below_zero_is_refused_and_nothing_is_written(lot, nurse, patient, session):
    before = (LedgerEntry.objects.count(), AuditEvent.objects.count())
    with pytest.raises(ValidationError) as refused:
        services.post_administration(
            actor=nurse,
            lot=lot,
            quantity="100.001",
            unit="mL",
            patient=patient,
            session_ref=session,
            given_at=None,
        )
    assert "Only 100 mL of lot K2401 is on hand" in refused.value.message_dict["quantity"][0]
    assert (LedgerEntry.objects.count(), AuditEvent.objects.count()) == before
    assert services.current_balance(lot, services.default_location(lot.clinic)) == Decimal("100")


def test_the_wrong_unit_and_part_devices_are_refused(lot, device, nurse, patient, session):
    with pytest.raises(ValidationError) as wrong_unit:
        services.post_administration(
            actor=nurse,
            lot=lot,
            quantity="1",
            unit="device",
            patient=patient,
            session_ref=session,
            given_at=None,
        )
    assert "unit" in wrong_unit.value.message_dict
    spray = services.receive(
        actor=nurse,
        product=device,
        lot_number="E1",
        expiry=date(2027, 1, 31),
        containers=3,
        supplier_name="S",
        supplier_address="A",
        supplier_dea_number=with_check_digit("RS765432"),
    ).lot
    with pytest.raises(ValidationError) as half:
        services.post_administration(
            actor=nurse,
            lot=spray,
            quantity="0.5",
            unit="device",
            patient=patient,
            session_ref=session,
            given_at=None,
        )
    assert "per device" in half.value.message_dict["quantity"][0]
    entry = services.post_administration(
        actor=nurse,
        lot=spray,
        quantity=2,
        unit="device",
        patient=patient,
        session_ref=session,
        given_at=None,
    )
    assert (entry.mg, entry.balance_after) == (Decimal("56.000"), Decimal("1.000"))


def test_waste_without_a_witness_stays_flagged_until_a_second_person_confirms(
    lot, nurse, patient, staff, session
):
    waste = services.post_waste_pending_witness(
        actor=nurse,
        lot=lot,
        quantity="2",
        unit="mL",
        patient=patient,
        session_ref=session,
        manner="wasted in sink with witness",
        witness="drchen",
    )
    assert services.unwitnessed_waste_for(session) == [waste]
    assert list(services.unwitnessed_waste(lot.clinic)) == [waste]
    services.confirm_waste_witness(
        actor=nurse, entry=waste, request=witness_request(), password=PASSWORD
    )
    waste.refresh_from_db()
    assert waste.witness == staff["physician"].user and waste.witnessed_at is not None
    assert services.unwitnessed_waste_for(session) == []
    assert AuditEvent.objects.filter(action="witness", object_id=str(waste.pk)).count() == 1


def test_the_witness_cannot_be_the_recorder(lot, nurse, patient, session):
    with pytest.raises(ValidationError) as refused:
        services.post_waste_pending_witness(
            actor=nurse,
            lot=lot,
            quantity="1",
            unit="mL",
            patient=patient,
            session_ref=session,
            manner="sink",
            witness="okafor",
        )
    assert "second person" in refused.value.message_dict["witness"][0]
    waste = services.post_waste_pending_witness(
        actor=nurse,
        lot=lot,
        quantity="1",
        unit="mL",
        patient=patient,
        session_ref=session,
        manner="sink",
    )
    with pytest.raises(ValidationError) as self_witness:
        services.confirm_waste_witness(
            actor=nurse,
            entry=waste,
            request=witness_request(),
            username="okafor",
            password=PASSWORD,
        )
    assert "second person" in self_witness.value.message_dict["witness"][0]
    assert LedgerEntry.objects.get(pk=waste.pk).witness_id is None


@pytest.mark.parametrize("who", ["rivera", "lee", "alex", "drnair"])
def test_only_nurses_and_physicians_of_the_clinic_may_witness(
    who, lot, nurse, patient, outsider, session
):
    waste = services.post_waste_pending_witness(
        actor=nurse,
        lot=lot,
        quantity="1",
        unit="mL",
        patient=patient,
        session_ref=session,
        manner="sink",
    )
    with pytest.raises(ValidationError) as refused:
        services.confirm_waste_witness(
            actor=nurse, entry=waste, request=witness_request(), username=who, password=PASSWORD
        )
    assert "nurse or physician of this clinic" in refused.value.message_dict["witness"][0]


def test_a_wrong_witness_password_is_refused_and_counts_toward_lockout(
    lot, nurse, patient, settings, session
):
    settings.AXES_FAILURE_LIMIT = 3
    waste = services.post_waste_pending_witness(
        actor=nurse,
        lot=lot,
        quantity="1",
        unit="mL",
        patient=patient,
        session_ref=session,
        manner="sink",
        witness="drchen",
    )
    for _ in range(3):
        with pytest.raises(ValidationError) as wrong:
            services.confirm_waste_witness(
                actor=nurse, entry=waste, request=witness_request(), password="guess"
            )
    assert "witness_password" in wrong.value.message_dict
    assert AuditEvent.objects.filter(action="login_failed", username="drchen").count() == 3
    with pytest.raises(ValidationError) as locked:
        services.confirm_waste_witness(
            actor=nurse, entry=waste, request=witness_request(), password=PASSWORD
        )
    assert "locked" in locked.value.message_dict["witness_password"][0]
    assert LedgerEntry.objects.get(pk=waste.pk).witness_id is None


def test_a_totp_code_confirms_a_witness_who_has_a_device(lot, nurse, patient, staff, session):
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=staff["physician"].user, name="phone", confirmed=True)
    first, second = (
        services.post_waste_pending_witness(
            actor=nurse,
            lot=lot,
            quantity="1",
            unit="mL",
            patient=patient,
            session_ref=session,
            manner="sink",
            witness="drchen",
        )
        for _ in range(2)
    )
    code = f"{totp(device.bin_key):06d}"
    services.confirm_waste_witness(actor=nurse, entry=first, request=witness_request(), code=code)
    assert LedgerEntry.objects.get(pk=first.pk).witness == staff["physician"].user
    # A code cannot be used twice (django-otp remembers the last one accepted).
    with pytest.raises(ValidationError) as reused:
        services.confirm_waste_witness(
            actor=nurse, entry=second, request=witness_request(), code=code
        )
    assert "witness_code" in reused.value.message_dict
    assert LedgerEntry.objects.get(pk=second.pk).witness_id is None


def test_a_past_entry_cannot_be_edited_or_deleted(receipt):
    entry = LedgerEntry.objects.get(pk=receipt.pk)
    entry.quantity = Decimal("1")
    with pytest.raises(AppendOnly):
        entry.save()
    with pytest.raises(AppendOnly):
        entry.delete()
    with pytest.raises(AppendOnly):
        LedgerEntry.objects.filter(pk=entry.pk).delete()
    with pytest.raises(AppendOnly):
        LedgerEntry.objects.filter(pk=entry.pk).update(quantity=1)
    # Nor around the posting service: a bulk insert, or raw SQL.
    forged = LedgerEntry.objects.get(pk=entry.pk)
    forged.pk, forged.balance_after = None, Decimal("1000")
    with pytest.raises(AppendOnly):
        LedgerEntry.objects.bulk_create([forged])
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM inventory_ledgerentry WHERE id = %s", [entry.pk])
    assert list(LedgerEntry.objects.values_list("pk", "quantity")) == [(entry.pk, Decimal("100"))]


def test_the_database_refuses_an_edit_that_bypasses_the_model(receipt):
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE inventory_ledgerentry SET balance_after = 5 WHERE id = %s", [receipt.pk]
        )
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM inventory_ledgerentry WHERE id = %s", [receipt.pk])
    assert LedgerEntry.objects.get(pk=receipt.pk).balance_after == Decimal("100")


def test_a_mistake_is_corrected_by_a_new_entry_that_references_it(
    lot, nurse, patient, staff, session
):
    wrong = services.post_administration(
        actor=nurse,
        lot=lot,
        quantity="7",
        unit="mL",
        patient=patient,
        session_ref=session,
        given_at=None,
    )
    fix = services.correct_entry(
        actor=nurse,
        request=witness_request(),
        entry=wrong,
        reason="typed 7 instead of 0.7",
        witness="drchen",
        witness_password=PASSWORD,
    )
    assert (fix.kind, fix.corrects, fix.delta, fix.balance_after) == (
        Kind.ADMINISTER,
        wrong,
        Decimal("7.000"),
        Decimal("100.000"),
    )
    assert LedgerEntry.objects.get(pk=wrong.pk).quantity == Decimal("7.000")
    with pytest.raises(ValidationError):
        services.correct_entry(
            actor=nurse,
            request=witness_request(),
            entry=wrong,
            reason="again",
            witness="drchen",
            witness_password=PASSWORD,
        )


def test_destroy_needs_its_witness_at_once(lot, nurse):
    before = LedgerEntry.objects.count()
    with pytest.raises(ValidationError) as refused:
        services.destroy(
            actor=nurse,
            request=witness_request(),
            lot=lot,
            quantity="10",
            manner="denatured on site",
            witness="drchen",
        )
    assert "witness_password" in refused.value.message_dict
    assert LedgerEntry.objects.count() == before
    entry = services.destroy(
        actor=nurse,
        request=witness_request(),
        lot=lot,
        quantity="10",
        manner="denatured on site",
        witness="drchen",
        witness_password=PASSWORD,
    )
    assert entry.witness.username == "drchen" and entry.balance_after == Decimal("90.000")


def test_transfer_moves_sealed_vials_between_locations(clinic, lot, nurse):
    from ketaclinic.inventory.models import Location

    main = services.default_location(clinic)
    room = Location.objects.create(clinic=clinic, name="Treatment room lockbox")
    out, into = services.transfer(
        actor=nurse, lot=lot, from_location=main, to_location=room, containers=2
    )
    assert (out.balance_after, into.balance_after, into.counterpart) == (
        Decimal("80.000"),
        Decimal("20.000"),
        out,
    )
    assert (
        Container.objects.filter(lot=lot, location=room, state=ContainerState.SEALED).count() == 2
    )


def test_a_count_discrepancy_is_resolved_by_a_cosigned_adjustment(lot, nurse, patient, session):
    services.post_administration(
        actor=nurse,
        lot=lot,
        quantity="3",
        unit="mL",
        patient=patient,
        session_ref=session,
        given_at=None,
    )
    location = services.default_location(lot.clinic)
    session = services.record_count(
        actor=nurse,
        location=location,
        timing="closing",
        lines=[{"lot": lot, "counted": "96.5", "estimated": True}],
    )
    [line] = session.lines.all()
    assert (line.ledger_balance, line.discrepancy, line.estimated) == (
        Decimal("97.000"),
        Decimal("-0.500"),
        True,
    )
    entry = services.resolve_discrepancy(
        actor=nurse,
        request=witness_request(),
        line=line,
        resolution="adjust",
        reason="opened vial estimated; overfill lower than assumed",
        witness="drchen",
        witness_password=PASSWORD,
    )
    line.refresh_from_db()
    assert (entry.kind, entry.delta, entry.balance_after, line.resolved_by) == (
        Kind.ADJUST,
        Decimal("-0.500"),
        Decimal("96.500"),
        entry,
    )
    with pytest.raises(ValidationError):
        services.resolve_discrepancy(
            actor=nurse,
            request=witness_request(),
            line=line,
            resolution="adjust",
            reason="again",
            witness="drchen",
            witness_password=PASSWORD,
        )


def test_a_shortfall_escalated_to_loss_opens_a_report_with_its_due_dates(lot, nurse):
    location = services.default_location(lot.clinic)
    friday = datetime(2026, 11, 20, 17, 0, tzinfo=lot.clinic.tz)
    session = services.record_count(
        actor=nurse,
        location=location,
        timing="closing",
        counted_at=friday,
        lines=[{"lot": lot, "counted": "90"}],
    )
    entry = services.resolve_discrepancy(
        actor=nurse,
        request=witness_request(),
        line=session.lines.get(),
        resolution="loss",
        reason="one sealed vial missing from the safe",
    )
    report = LossReport.objects.get(entry=entry)
    assert (report.discovered_on, report.notice_due, report.form106_due) == (
        date(2026, 11, 20),
        date(2026, 11, 23),
        date(2027, 1, 4),
    )
    assert entry.kind == Kind.LOSS and entry.balance_after == Decimal("90.000")


def test_loss_deadlines_skip_the_weekend():
    assert loss_deadlines(date(2026, 11, 27)) == (date(2026, 11, 30), date(2027, 1, 11))  # Fri
    assert loss_deadlines(date(2026, 11, 28))[0] == date(2026, 11, 30)  # Sat -> Mon
    assert loss_deadlines(date(2026, 11, 24))[0] == date(2026, 11, 25)  # Tue -> Wed


def test_a_complete_inventory_must_list_every_lot_on_hand(lot, nurse, clinic):
    location = services.default_location(clinic)
    with pytest.raises(ValidationError) as missing:
        services.record_count(
            actor=nurse, location=location, timing="opening", kind="inventory", lines=[]
        )
    assert "K2401" in missing.value.message_dict["lines"][0]
    assert services.inventory_due(clinic, date(2026, 11, 25)).state == "initial"
    services.record_count(
        actor=nurse,
        location=location,
        timing="opening",
        kind="inventory",
        counted_at=datetime(2026, 11, 24, 8, tzinfo=clinic.tz),
        lines=[{"lot": lot, "counted": "100", "sealed_containers": 10}],
    )
    assert services.inventory_due(clinic, date(2028, 11, 1)).state == "soon"
    assert services.inventory_due(clinic, date(2028, 11, 25)).state == "overdue"
    assert services.inventory_due(clinic, date(2027, 1, 1)).state == "ok"


def test_inventory_reminders_go_to_ledger_staff_once_a_week(lot, clinic, staff, mailoutbox):
    for m in staff.values():
        m.user.email = f"{m.user.username}@harbor.example"
        m.user.save()
    assert services.send_inventory_reminders(date(2026, 11, 25)) == 1
    assert sorted(mailoutbox[0].to) == [
        "alex@harbor.example",
        "drchen@harbor.example",
        "okafor@harbor.example",
    ]
    assert services.send_inventory_reminders(date(2026, 11, 26)) == 0


@pytest.mark.parametrize(
    ("number", "ok"),
    [
        ("AP5836727", True),  # worked example of the published rule
        ("ap5836727", True),
        ("AP5836728", False),
        ("A15836727", False),
        ("AP583672", False),
        ("", False),
    ],
)
def test_the_dea_number_check_digit(number, ok):
    assert (dea_number_problem(number) is None) is ok


def test_a_receipt_with_a_bad_dea_number_is_refused(vial, nurse):
    with pytest.raises(ValidationError) as refused:
        services.receive(
            actor=nurse,
            product=vial,
            lot_number="L",
            expiry=date(2027, 1, 1),
            containers=1,
            supplier_name="S",
            supplier_address="A",
            supplier_dea_number="RH1234560",
        )
    assert "check digit" in refused.value.message_dict["supplier.dea_number"][0]
    assert LedgerEntry.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_draws_cannot_overdraw(clinic, staff, patient):
    from tests.inventory.conftest import DEA

    nurse = actor(staff["nurse"])
    product = services.create_product(
        actor=nurse,
        name="K",
        ndc="12345-0050-10",
        substance="ketamine",
        unit="mL",
        mg_per_unit="50",
        units_per_container="10",
    )
    lot = services.receive(
        actor=nurse,
        product=product,
        lot_number="C1",
        expiry=date(2027, 1, 1),
        containers=1,
        supplier_name="S",
        supplier_address="A",
        supplier_dea_number=DEA,
    ).lot
    barrier = threading.Barrier(2)
    results: list[str] = []

    def draw(ref: str) -> None:
        barrier.wait()
        try:
            # The in-memory SQLite test database answers "table is locked" at once where
            # a file database waits (busy timeout): retry, as the waiting would.
            for _ in range(200):
                try:
                    services.post_administration(
                        actor=nurse,
                        lot=lot,
                        quantity="6",
                        unit="mL",
                        patient=patient.pk,
                        session_ref=ref,
                        given_at=None,
                    )
                except OperationalError as exc:
                    if "locked" not in str(exc):
                        raise
                    time.sleep(0.01)
                    continue
                results.append("ok")
                return
        except ValidationError:
            results.append("refused")
        finally:
            connection.close()

    sessions = [str(make_session(patient, nurse.user).pk) for _ in range(2)]
    threads = [threading.Thread(target=draw, args=(ref,)) for ref in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["ok", "refused"]
    assert services.current_balance(lot, services.default_location(clinic)) == Decimal("4.000")


def test_reversing_a_mistaken_receipt_takes_its_vials_off_the_shelf(lot, receipt, nurse):
    fix = services.correct_entry(
        actor=nurse,
        request=witness_request(),
        entry=receipt,
        reason="the delivery belonged to another clinic",
        witness="drchen",
        witness_password=PASSWORD,
    )
    assert (fix.kind, fix.delta, fix.balance_after) == (
        Kind.RECEIVE,
        Decimal("-100.000"),
        Decimal("0.000"),
    )
    assert services.balances(lot.clinic) == []
    on_shelf = Container.objects.filter(lot=lot).exclude(state=ContainerState.EMPTIED)
    assert on_shelf.count() == 0


def test_a_federal_holiday_is_not_skipped_so_the_notice_is_never_shown_late():
    # 26 Nov 2026 is Thanksgiving (5 U.S.C. 6103). 21 CFR 1301.76(b) does not define a
    # business day, so the notice is shown due then: early is never wrong, late could be.
    assert loss_deadlines(date(2026, 11, 25))[0] == date(2026, 11, 26)


def test_a_loss_cannot_be_discovered_tomorrow_and_is_filed_only_once(lot, nurse):
    tomorrow = lot.clinic.today() + timezone.timedelta(days=1)
    before = LedgerEntry.objects.count()
    with pytest.raises(ValidationError) as refused:
        services.record_loss(
            actor=nurse, lot=lot, quantity="1", circumstances="vial missing", discovered_on=tomorrow
        )
    assert refused.value.message_dict == {"discovered_on": ["The discovery date is in the future."]}
    assert LedgerEntry.objects.count() == before
    report = services.record_loss(actor=nurse, lot=lot, quantity="1", circumstances="vial missing")
    services.mark_loss_notice_sent(actor=nurse, report=report)
    services.mark_loss_filed(actor=nurse, report=report, reference="DEA-106-0001")
    sent_at = LossReport.objects.get(pk=report.pk).notice_sent_at
    with pytest.raises(ValidationError, match="already"):
        services.mark_loss_notice_sent(actor=nurse, report=report)
    with pytest.raises(ValidationError, match="already"):
        services.mark_loss_filed(actor=nurse, report=report, reference="DEA-106-0002")
    stored = LossReport.objects.get(pk=report.pk)
    assert (stored.notice_sent_at, stored.filed_reference) == (sent_at, "DEA-106-0001")


# ---------------------------------------------------------------- doses name a real session


def test_a_dose_needs_a_real_session_of_that_patient_in_this_clinic(
    lot, nurse, patient, session, staff, outsider
):
    def someone(clinic, mrn):
        return Patient.objects.create(
            clinic=clinic,
            mrn=mrn,
            given_name="Tom",
            family_name="Berg",
            birth_date=date(1960, 1, 1),
            sex_at_birth="male",
        )

    theirs = str(make_session(someone(lot.clinic, "MRN000002"), staff["nurse"].user).pk)
    other_clinic = str(make_session(someone(outsider.clinic, "N1"), outsider.user).pk)
    before = (LedgerEntry.objects.count(), AuditEvent.objects.count())
    for ref in ("s-1", "0", theirs, other_clinic, "99999999999999999999", "1²"):
        with pytest.raises(ValidationError) as refused:
            services.post_administration(
                actor=nurse,
                lot=lot,
                quantity="0.7",
                unit="mL",
                patient=patient,
                session_ref=ref,
                given_at=None,
            )
        assert list(refused.value.message_dict) == ["session_ref"], ref
    assert (LedgerEntry.objects.count(), AuditEvent.objects.count()) == before
    entry = services.post_administration(
        actor=nurse,
        lot=lot,
        quantity="0.7",
        unit="mL",
        patient=patient,
        session_ref=session,
        given_at=None,
    )
    assert (entry.session_ref, entry.patient_id) == (session, patient.pk)


def test_a_session_posts_its_dose_once_unless_the_first_was_reversed(lot, nurse, patient, session):
    def give(quantity):
        return services.post_administration(
            actor=nurse,
            lot=lot,
            quantity=quantity,
            unit="mL",
            patient=patient,
            session_ref=session,
            given_at=None,
        )

    first = give("7")
    with pytest.raises(ValidationError) as twice:
        give("0.7")
    assert f"entry #{first.pk}" in twice.value.message_dict["session_ref"][0]
    assert LedgerEntry.objects.filter(kind=Kind.ADMINISTER).count() == 1
    services.correct_entry(
        actor=nurse,
        request=witness_request(),
        entry=first,
        reason="typed 7 for 0.7",
        witness="drchen",
        witness_password=PASSWORD,
    )
    right = give("0.7")
    assert right.balance_after == Decimal("99.300")
    with pytest.raises(ValidationError):
        give("0.7")


def test_a_waste_names_a_session_of_the_clinic_and_takes_its_patient(lot, nurse, patient, session):
    with pytest.raises(ValidationError) as refused:
        services.post_waste_pending_witness(
            actor=nurse,
            lot=lot,
            quantity="1",
            unit="mL",
            patient=None,
            session_ref="s-9",
            manner="sink",
        )
    assert list(refused.value.message_dict) == ["session_ref"]
    waste = services.post_waste_pending_witness(
        actor=nurse,
        lot=lot,
        quantity="1",
        unit="mL",
        patient=None,
        session_ref=session,
        manner="sink",
    )
    assert waste.patient_id == patient.pk
    assert LedgerEntry.objects.filter(kind=Kind.WASTE).count() == 1


# ---------------------------------------------------------------- expired lots


def _expired_lot(vial, nurse, clinic):
    """A lot received in date that expired yesterday (expired stock cannot be received)."""
    expiry = clinic.today() - timezone.timedelta(days=1)
    lot = services.receive(
        actor=nurse,
        product=vial,
        lot_number="OLD1",
        expiry=expiry + timezone.timedelta(days=365),
        containers=2,
        supplier_name="S",
        supplier_address="A",
        supplier_dea_number=with_check_digit("RS765432"),
    ).lot
    Lot.objects.filter(pk=lot.pk).update(expiry=expiry)
    lot.refresh_from_db()
    return lot


def test_an_expired_lot_is_refused_at_receipt_and_nothing_is_recorded(vial, nurse, clinic):
    before = (LedgerEntry.objects.count(), Lot.objects.count(), AuditEvent.objects.count())
    yesterday = clinic.today() - timezone.timedelta(days=1)
    with pytest.raises(ValidationError) as refused:
        services.receive(
            actor=nurse,
            product=vial,
            lot_number="OLD2",
            expiry=yesterday,
            containers=2,
            supplier_name="S",
            supplier_address="A",
            supplier_dea_number=with_check_digit("RS765432"),
        )
    assert refused.value.message_dict["expiry"] == [
        f"This lot expired on {yesterday:%d %b %Y}: expired stock cannot be received. "
        "Return it to the supplier."
    ]
    assert (LedgerEntry.objects.count(), Lot.objects.count(), AuditEvent.objects.count()) == before
    today = clinic.today()
    entry = services.receive(
        actor=nurse,
        product=vial,
        lot_number="TODAY1",
        expiry=today,
        containers=1,
        supplier_name="S",
        supplier_address="A",
        supplier_dea_number=with_check_digit("RS765432"),
    )
    assert entry.lot.expiry == today  # usable through its expiry date


def test_an_expired_lot_is_not_given_nor_wasted_from_stock_but_is_destroyed_or_returned(
    vial, nurse, patient, session, clinic
):
    old = _expired_lot(vial, nurse, clinic)
    before = (LedgerEntry.objects.count(), AuditEvent.objects.count())
    with pytest.raises(ValidationError) as given:
        services.post_administration(
            actor=nurse,
            lot=old,
            quantity="1",
            unit="mL",
            patient=patient,
            session_ref=session,
            given_at=None,
        )
    assert "Lot OLD1 expired on" in given.value.message_dict["lot"][0]
    with pytest.raises(ValidationError) as wasted:
        services.post_waste_pending_witness(
            actor=nurse,
            lot=old,
            quantity="1",
            unit="mL",
            patient=None,
            session_ref="",
            manner="sink",
        )
    assert "lot" in wasted.value.message_dict
    assert (LedgerEntry.objects.count(), AuditEvent.objects.count()) == before
    destroyed = services.destroy(
        actor=nurse,
        request=witness_request(),
        lot=old,
        quantity="10",
        manner="rendered non-retrievable",
        reason="expired",
        witness="drchen",
        witness_password=PASSWORD,
    )
    returned = services.return_stock(actor=nurse, lot=old, quantity="10", manner="Reverse Co")
    assert (destroyed.balance_after, returned.balance_after) == (Decimal("10.000"), Decimal("0"))


def test_a_dose_given_on_the_expiry_day_still_posts(vial, nurse, patient, session, clinic):
    old = _expired_lot(vial, nurse, clinic)
    yesterday_noon = datetime.combine(old.expiry, datetime.min.time(), clinic.tz) + (
        timezone.timedelta(hours=12)
    )
    entry = services.post_administration(
        actor=nurse,
        lot=old,
        quantity="1",
        unit="mL",
        patient=patient,
        session_ref=session,
        given_at=yesterday_noon,
    )
    assert entry.balance_after == Decimal("19.000")


# ---------------------------------------------------------------- the clinic's date


EVENING_IN_NEW_YORK = datetime(2026, 11, 20, 20, 30, tzinfo=ZoneInfo("America/New_York"))


def test_an_evening_count_in_new_york_is_escalated_to_a_loss_discovered_that_day(
    lot, nurse, monkeypatch
):
    # 20:30 in New York is 01:30 the next day in UTC.
    monkeypatch.setattr(timezone, "now", lambda: EVENING_IN_NEW_YORK.astimezone(UTC))
    session = services.record_count(
        actor=nurse,
        location=services.default_location(lot.clinic),
        timing="closing",
        lines=[{"lot": lot, "counted": "90"}],
    )
    entry = services.resolve_discrepancy(
        actor=nurse,
        request=witness_request(),
        line=session.lines.get(),
        resolution="loss",
        reason="one sealed vial missing at the closing count",
    )
    report = LossReport.objects.get(entry=entry)
    assert (report.discovered_on, report.notice_due) == (date(2026, 11, 20), date(2026, 11, 23))


def test_the_forms_offer_the_clinics_date_and_time_in_the_evening(lot, clinic, monkeypatch):
    from ketaclinic.inventory import forms

    monkeypatch.setattr(timezone, "now", lambda: EVENING_IN_NEW_YORK.astimezone(UTC))
    assert forms.LossForm(clinic=clinic).fields["discovered_on"].initial == date(2026, 11, 20)
    administer = forms.AdministerForm(clinic=clinic)
    assert administer.fields["given_at"].initial == "2026-11-20T20:30"
    typed = forms.AdministerForm(
        {
            "lot": lot.pk,
            "quantity": "1",
            "patient_mrn": "M",
            "session_ref": "1",
            "given_at": "2026-11-20T20:15",
        },
        clinic=clinic,
    )
    assert typed.is_valid(), typed.errors
    assert typed.cleaned_data["given_at"] == EVENING_IN_NEW_YORK - timezone.timedelta(minutes=15)


# ---------------------------------------------------------------- corrections


def test_a_correction_posted_at_the_same_time_as_another_is_refused(
    lot, receipt, nurse, monkeypatch
):
    cosigned = services._cosigned

    def meanwhile_someone_corrects_it(**kwargs):
        # Between the first check and the write, another tablet reverses the same entry.
        witness = cosigned(**kwargs)
        with transaction.atomic():
            services._post(
                actor=nurse,
                lot=receipt.lot,
                location=receipt.location,
                kind=Kind.RECEIVE,
                quantity=receipt.quantity,
                sign=-1,
                corrects=receipt,
                reason="the other tablet",
                witness=witness,
                witnessed_at=timezone.now(),
            )
        return witness

    patch_everywhere(monkeypatch, services, "_cosigned", meanwhile_someone_corrects_it)
    with pytest.raises(ValidationError, match="already been corrected"):
        services.correct_entry(
            actor=nurse,
            request=witness_request(),
            entry=receipt,
            reason="wrong clinic",
            witness="drchen",
            witness_password=PASSWORD,
        )
    assert list(LedgerEntry.objects.filter(corrects=receipt).values_list("reason", flat=True)) == [
        "the other tablet"
    ]
    assert services.current_balance(lot, receipt.location) == Decimal("0")


def test_a_reversed_waste_no_longer_waits_and_cannot_be_witnessed(
    lot, nurse, patient, session, staff
):
    waste = services.post_waste_pending_witness(
        actor=nurse,
        lot=lot,
        quantity="2",
        unit="mL",
        patient=patient,
        session_ref=session,
        manner="sink",
        witness="drchen",
    )
    services.correct_entry(
        actor=nurse,
        request=witness_request(),
        entry=waste,
        reason="recorded on the wrong lot",
        witness="drchen",
        witness_password=PASSWORD,
    )
    assert list(services.unwitnessed_waste(lot.clinic)) == []
    assert services.unwitnessed_waste_for(session) == []
    original = LedgerEntry.objects.get(pk=waste.pk)
    assert original.awaiting_witness is False
    with pytest.raises(ValidationError, match="reversed"):
        services.confirm_waste_witness(
            actor=nurse, entry=original, request=witness_request(), password=PASSWORD
        )
    assert LedgerEntry.objects.get(pk=waste.pk).witness_id is None
    assert not AuditEvent.objects.filter(action="witness").exists()


# ---------------------------------------------------------------- inventories per location


def test_each_location_needs_its_own_complete_inventory(lot, nurse, clinic):
    from ketaclinic.inventory.models import Location

    main = services.default_location(clinic)
    lockbox = Location.objects.create(clinic=clinic, name="Treatment room lockbox")
    services.record_count(
        actor=nurse,
        location=main,
        timing="opening",
        kind="inventory",
        counted_at=datetime(2025, 6, 2, 8, tzinfo=clinic.tz),
        lines=[{"lot": lot, "counted": "100"}],
    )
    # The safe's complete inventory says nothing about the lockbox.
    due = services.inventory_due(clinic, date(2025, 6, 3))
    assert (due.state, [(p.name, p.due.state) for p in due.places]) == (
        "initial",
        [("Treatment room lockbox", "initial")],
    )
    services.record_count(
        actor=nurse,
        location=lockbox,
        timing="opening",
        kind="initial",
        counted_at=datetime(2026, 11, 24, 8, tzinfo=clinic.tz),
        lines=[],
    )
    assert services.inventory_due(clinic, date(2026, 11, 25)).state == "ok"
    # Two years on, the safe is due; the lockbox, counted later, is not.
    late = services.inventory_due(clinic, date(2027, 6, 5))
    assert (late.state, [(p.name, p.due.due_on) for p in late.places]) == (
        "overdue",
        [("Main safe", date(2027, 6, 2))],
    )
    # A location that is no longer used is not waited for.
    Location.objects.filter(pk=main.pk).update(is_active=False)
    assert services.inventory_due(clinic, date(2027, 6, 5)).state == "ok"


def test_a_new_clinic_with_no_entries_is_reminded_of_its_initial_inventory(
    clinic, staff, mailoutbox
):
    staff["nurse"].user.email = "okafor@harbor.example"
    staff["nurse"].user.save()
    assert LedgerEntry.objects.count() == 0
    assert services.send_inventory_reminders(date(2026, 11, 25)) == 1
    assert mailoutbox[0].to == ["okafor@harbor.example"]
    assert "No initial controlled-substance inventory" in mailoutbox[0].body


def test_the_reminder_names_the_location_that_is_due(lot, nurse, clinic, staff, mailoutbox):
    from ketaclinic.inventory.models import Location

    staff["nurse"].user.email = "okafor@harbor.example"
    staff["nurse"].user.save()
    services.record_count(
        actor=nurse,
        location=services.default_location(clinic),
        timing="opening",
        kind="initial",
        lines=[{"lot": lot, "counted": "100"}],
    )
    Location.objects.create(clinic=clinic, name="Treatment room lockbox")
    assert services.send_inventory_reminders(clinic.today()) == 1
    body = mailoutbox[0].body
    assert "Treatment room lockbox: no initial inventory" in body and "Main safe" not in body


def test_a_location_stays_in_use_while_it_holds_stock_and_leaves_use_once_emptied(
    lot, nurse, staff
):
    admin = actor(staff["admin"])
    location = services.default_location(lot.clinic)
    with pytest.raises(ValidationError, match="still holds stock"):
        services.set_in_use(actor=admin, item=location, in_use=False)
    # Amounts whose floating-point sum is not exactly 100 mL (SQLite sums decimals as floats).
    for quantity in ("0.1", "0.2", "0.7", "33.3", "33.3", "32.4"):
        services.return_stock(
            actor=nurse,
            lot=lot,
            quantity=Decimal(quantity),
            manner="to the distributor",
            location=location,
        )
    services.set_in_use(actor=admin, item=location, in_use=False)
    location.refresh_from_db()
    assert location.is_active is False
