"""Nothing on the ledger is edited or deleted: not through the ORM, not with raw SQL.

Entries, counts, count lines and loss reports are append-only; the only changes are a
waste's witness, a count line's resolution and a loss report's notice and filing, each
filled once, from empty. Run on SQLite and on PostgreSQL (DATABASE_URL).
"""

from __future__ import annotations

import importlib
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from ketaclinic.inventory import services
from ketaclinic.inventory.models import (
    AppendOnly,
    CountLine,
    CountSession,
    Kind,
    LedgerEntry,
    LossReport,
)
from tests.conftest import PASSWORD
from tests.inventory.conftest import actor, witness_request

pytestmark = pytest.mark.django_db

GUARD = importlib.import_module("ketaclinic.inventory.migrations.0004_ledger_chain_ops")


def refused(sql: str, params: list) -> None:
    """The database refuses the statement (and the test's transaction goes on)."""
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def rows(model) -> list[dict]:
    return list(model._default_manager.order_by("pk").values())


@pytest.mark.parametrize("model", [LedgerEntry, CountSession, CountLine, LossReport])
def test_the_guard_covers_every_column(model):
    spec = GUARD.TABLES[model._meta.db_table]
    columns = {f.column for f in model._meta.concrete_fields}
    assert set(spec["GUARDED"]) | set(spec["FILL"]) == columns
    assert not set(spec["GUARDED"]) & set(spec["FILL"])


def test_a_raw_delete_or_edit_of_an_entry_is_refused_even_of_its_id(receipt):
    before = rows(LedgerEntry)
    refused("DELETE FROM inventory_ledgerentry WHERE id = %s", [receipt.pk])
    refused("DELETE FROM inventory_ledgerentry", [])
    refused("UPDATE inventory_ledgerentry SET id = id + 1000 WHERE id = %s", [receipt.pk])
    refused("UPDATE inventory_ledgerentry SET quantity = 1 WHERE id = %s", [receipt.pk])
    assert rows(LedgerEntry) == before


def test_only_a_waste_gets_a_witness_and_only_once(lot, nurse, staff, patient, session):
    physician, other = staff["physician"].user, staff["admin"].user
    given = services.post_administration(
        actor=nurse,
        lot=lot,
        quantity="1",
        unit="mL",
        patient=patient,
        session_ref=session,
        given_at=None,
    )
    waste = services.post_waste_pending_witness(
        actor=nurse,
        lot=lot,
        quantity="1",
        unit="mL",
        patient=patient,
        session_ref=session,
        manner="sink",
    )
    now = timezone.now()
    for entry in (given, LedgerEntry.objects.get(kind=Kind.RECEIVE)):
        refused(
            "UPDATE inventory_ledgerentry SET witness_id = %s, witnessed_at = %s WHERE id = %s",
            [physician.pk, now, entry.pk],
        )
    with pytest.raises(AppendOnly):
        LedgerEntry.objects.filter(pk=given.pk).update(reason="edited")
    # The waste takes its witness once; then the witness is fixed.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE inventory_ledgerentry SET witness_id = %s, witnessed_at = %s WHERE id = %s",
            [physician.pk, now, waste.pk],
        )
    refused("UPDATE inventory_ledgerentry SET witness_id = %s WHERE id = %s", [other.pk, waste.pk])
    refused("UPDATE inventory_ledgerentry SET witnessed_at = NULL WHERE id = %s", [waste.pk])
    assert LedgerEntry.objects.filter(witness__isnull=False).values_list("pk", flat=True).get() == (
        waste.pk
    )


def test_entries_are_not_written_or_rewritten_in_bulk(receipt):
    before = rows(LedgerEntry)
    copy = LedgerEntry.objects.get(pk=receipt.pk)
    copy.pk = None
    with pytest.raises(AppendOnly):
        LedgerEntry.objects.bulk_create([copy])
    with pytest.raises(AppendOnly):
        LedgerEntry.objects.bulk_update([receipt], ["reason"])
    with pytest.raises(AppendOnly):
        LedgerEntry.objects.all().delete()
    assert rows(LedgerEntry) == before


def test_an_entry_is_reversed_at_most_once_by_the_database_too(receipt, nurse):
    services.correct_entry(
        actor=nurse,
        request=witness_request(),
        entry=receipt,
        reason="wrong clinic",
        witness="drchen",
        witness_password=PASSWORD,
    )
    count = LedgerEntry.objects.count()
    # Around the service (no re-check): the unique constraint refuses a second reversal.
    with pytest.raises(IntegrityError), transaction.atomic():
        services._post(
            actor=nurse,
            lot=receipt.lot,
            location=receipt.location,
            kind=Kind.RECEIVE,
            quantity=Decimal("1"),
            sign=+1,
            corrects=receipt,
            reason="again",
        )
    assert LedgerEntry.objects.count() == count


def _count_with_discrepancy(lot, nurse):
    return services.record_count(
        actor=nurse,
        location=services.default_location(lot.clinic),
        timing="closing",
        lines=[{"lot": lot, "counted": "90"}],
    )


def test_counts_and_their_lines_are_never_edited_or_deleted(lot, nurse):
    count = _count_with_discrepancy(lot, nurse)
    line = count.lines.get()
    before = (rows(CountSession), rows(CountLine))
    count.note = "rewritten"
    line.counted = Decimal("100")
    for attempt in (count.save, count.delete, line.save, line.delete):
        with pytest.raises(AppendOnly):
            attempt()
    with pytest.raises(AppendOnly):
        CountSession.objects.filter(pk=count.pk).update(note="rewritten")
    with pytest.raises(AppendOnly):
        CountLine.objects.filter(pk=line.pk).update(counted=100)
    with pytest.raises(AppendOnly):
        CountLine.objects.all().delete()
    with pytest.raises(AppendOnly):
        CountLine.objects.bulk_update([line], ["counted"])
    refused("UPDATE inventory_countsession SET note = 'x' WHERE id = %s", [count.pk])
    refused("DELETE FROM inventory_countsession WHERE id = %s", [count.pk])
    refused("UPDATE inventory_countline SET counted = 100 WHERE id = %s", [line.pk])
    refused("DELETE FROM inventory_countline WHERE id = %s", [line.pk])
    assert (rows(CountSession), rows(CountLine)) == before


def test_a_discrepancy_is_resolved_once_and_the_resolution_then_stays(lot, nurse):
    line = _count_with_discrepancy(lot, nurse).lines.get()
    entry = services.resolve_discrepancy(
        actor=nurse,
        request=witness_request(),
        line=line,
        resolution="adjust",
        reason="miscounted delivery",
        witness="drchen",
        witness_password=PASSWORD,
    )
    resolved = CountLine.objects.get(pk=line.pk)
    assert resolved.resolved_by == entry
    refused("UPDATE inventory_countline SET resolved_by_id = NULL WHERE id = %s", [line.pk])
    refused(
        "UPDATE inventory_countline SET resolved_at = %s WHERE id = %s", [timezone.now(), line.pk]
    )
    stored = CountLine.objects.get(pk=line.pk)
    assert (stored.resolved_by_id, stored.resolved_at) == (entry.pk, resolved.resolved_at)


def test_a_loss_report_is_filed_once_and_never_edited_or_deleted(lot, nurse):
    report = services.record_loss(actor=nurse, lot=lot, quantity="1", circumstances="vial missing")
    services.mark_loss_notice_sent(actor=nurse, report=report)
    services.mark_loss_filed(actor=nurse, report=report, reference="106-0001")
    before = rows(LossReport)
    stored = LossReport.objects.get(pk=report.pk)
    stored.circumstances = "rewritten"
    with pytest.raises(AppendOnly):
        stored.save()
    with pytest.raises(AppendOnly):
        stored.delete()
    with pytest.raises(AppendOnly):
        LossReport.objects.filter(pk=report.pk).update(circumstances="rewritten")
    refused("UPDATE inventory_lossreport SET filed_reference = 'other' WHERE id = %s", [report.pk])
    refused("UPDATE inventory_lossreport SET notice_sent_at = NULL WHERE id = %s", [report.pk])
    refused("UPDATE inventory_lossreport SET circumstances = 'x' WHERE id = %s", [report.pk])
    refused("DELETE FROM inventory_lossreport WHERE id = %s", [report.pk])
    assert rows(LossReport) == before


@pytest.mark.django_db(transaction=True)
def test_flush_empties_the_ledger_and_leaves_the_guard_in_place(clinic, staff):
    from tests.inventory.conftest import DEA

    nurse = actor(staff["nurse"])

    def receive(ndc):
        product = services.create_product(
            actor=nurse,
            name="K",
            ndc=ndc,
            substance="ketamine",
            unit="mL",
            mg_per_unit="50",
            units_per_container="10",
        )
        return services.receive(
            actor=nurse,
            product=product,
            lot_number="F1",
            expiry=clinic.today() + timezone.timedelta(days=300),
            containers=1,
            supplier_name="S",
            supplier_address="A",
            supplier_dea_number=DEA,
        )

    receive("12345-0050-10")
    call_command("flush", interactive=False, verbosity=0)
    assert LedgerEntry.objects.count() == 0
    from ketaclinic.accounts.services import add_clinic, add_staff

    clinic = add_clinic(slug="again", name="Again", timezone="America/New_York")
    nurse = actor(add_staff(username="n2", clinic=clinic, role="nurse", password=PASSWORD))
    entry = receive("12345-0050-11")
    refused("DELETE FROM inventory_ledgerentry WHERE id = %s", [entry.pk])
    assert LedgerEntry.objects.filter(pk=entry.pk).exists()
