"""The ledger proves itself: with the database triggers dropped, an edit is still found.

Each entry is hashed and chained to its lot's previous entry, its audit event carries
the hash, and `verify_ledger` recomputes every running balance. Run on SQLite and
PostgreSQL (DATABASE_URL).
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from ketaclinic.audit.models import AuditEvent
from ketaclinic.inventory import ledger_chain, services
from ketaclinic.inventory.models import LedgerEntry
from ketaclinic.worker import jobs

pytestmark = pytest.mark.django_db


@contextmanager
def triggers_dropped():
    """Play a tamperer with database access, who first removes the guard triggers."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
                " AND tbl_name = 'inventory_ledgerentry'"
            )
            triggers = cursor.fetchall()
            for name, _ in triggers:
                cursor.execute(f"DROP TRIGGER {name}")
        else:
            cursor.execute("SET session_replication_role = replica")
    yield
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            for _, sql in triggers:
                cursor.execute(sql)
        else:
            cursor.execute("SET session_replication_role = DEFAULT")


def raw(sql: str, params: list) -> None:
    with triggers_dropped(), connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.fixture
def ledger(lot, nurse, patient, session):
    """A receipt of 100 mL and 2 mL given: entries [receipt, administration]."""
    services.post_administration(
        actor=nurse,
        lot=lot,
        quantity="2",
        unit="mL",
        patient=patient,
        session_ref=session,
        given_at=None,
    )
    return list(LedgerEntry.objects.filter(lot=lot).order_by("id"))


def test_each_entry_follows_the_lots_previous_one_and_its_audit_event_vouches(ledger):
    receipt, given = ledger
    assert receipt.prev_hash == ledger_chain.GENESIS
    assert given.prev_hash == receipt.hash
    assert given.balance_after == Decimal("98.000")
    event = AuditEvent.objects.get(object_type="inventory.ledgerentry", object_id=str(given.pk))
    assert event.detail["hash"] == given.hash
    assert services.verify_ledger() == []


def test_an_edited_quantity_and_balance_are_detected_with_the_triggers_dropped(ledger):
    receipt, given = ledger
    # The books still add up: 100 received, 1 given, 99 left. Only the chain tells.
    raw(
        "UPDATE inventory_ledgerentry SET quantity = 1, mg = 50, delta = -1, balance_after = 99"
        " WHERE id = %s",
        [given.pk],
    )
    problems = [str(p) for p in services.verify_ledger()]
    assert problems == [f"entry {given.pk}: was altered after it was written"]


def test_an_edited_balance_alone_is_recomputed_and_named(ledger):
    receipt, given = ledger
    raw("UPDATE inventory_ledgerentry SET balance_after = 50 WHERE id = %s", [given.pk])
    assert [str(p) for p in services.verify_ledger()] == [
        f"entry {given.pk}: was altered after it was written",
        f"entry {given.pk}: balance after is 50.000; the entries give 98.000",
    ]


def test_a_forged_entry_with_a_fresh_hash_still_disagrees_with_its_audit_event(ledger):
    receipt, given = ledger
    forged = dict(LedgerEntry.objects.filter(pk=given.pk).values().get())
    forged.update(quantity=Decimal("1"), mg=Decimal("50"), delta=Decimal("-1"))
    forged["balance_after"] = Decimal("99")
    digest = ledger_chain.entry_hash(forged, forged["prev_hash"])
    raw(
        "UPDATE inventory_ledgerentry SET quantity = 1, mg = 50, delta = -1, balance_after = 99,"
        " hash = %s WHERE id = %s",
        [digest, given.pk],
    )
    assert [str(p) for p in services.verify_ledger()] == [
        f"entry {given.pk}: differs from the hash its audit event recorded"
    ]


def test_the_newest_entry_removed_is_detected(ledger):
    receipt, given = ledger
    raw("DELETE FROM inventory_ledgerentry WHERE id = %s", [given.pk])
    assert [str(p) for p in services.verify_ledger()] == [
        f"entry {given.pk}: is in the audit log but missing from the ledger"
    ]


def test_verify_ledger_exits_non_zero_naming_the_first_bad_entry(ledger, capsys):
    receipt, given = ledger
    call_command("verify_ledger")
    assert "2 ledger entries intact" in capsys.readouterr().out
    raw("UPDATE inventory_ledgerentry SET quantity = 3 WHERE id = %s", [receipt.pk])
    with pytest.raises(CommandError, match=f"first problem at entry {receipt.pk}: "):
        call_command("verify_ledger")


def test_the_worker_checks_nightly_and_emails_the_admins(ledger, staff, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    admin = staff["admin"].user
    admin.email = "alex@harbor.example"
    admin.save()
    night = timezone.now().replace(hour=3, minute=0)
    assert jobs.verify_ledger_nightly(night) == 0  # intact: nothing sent
    assert mail.outbox == []
    receipt, given = ledger
    raw("UPDATE inventory_ledgerentry SET balance_after = 7 WHERE id = %s", [given.pk])
    assert jobs.verify_ledger_nightly(night + timedelta(minutes=10)) == 0  # once a day
    assert jobs.verify_ledger_nightly(night + timedelta(days=1)) == 1
    [message] = mail.outbox
    assert message.to == ["alex@harbor.example"]
    assert f"entry {given.pk}: balance after is 7.000" in message.body
    assert "Garcia" not in message.body
