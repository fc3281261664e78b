"""The demo ledger is complete and balanced."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.management import call_command

from ketaclinic.clinical.dea import dea_number_problem
from ketaclinic.inventory import services
from ketaclinic.inventory.models import Container, CountSession, Kind, LedgerEntry
from ketaclinic.treatment.models import TreatmentSession

pytestmark = pytest.mark.django_db


def test_the_demo_ledger_balances():
    call_command("seed_demo", stdout=open("/dev/null", "w"))
    entries = LedgerEntry.objects.filter(clinic__slug="harbor")
    clinic = entries.first().clinic
    # Summed in Python: SQLite's SUM of decimals is a float (8.39999999999998 for 8.4).
    for b in services.balances(clinic):
        mine = entries.filter(lot=b.lot, location=b.location)
        assert sum(mine.values_list("delta", flat=True)) == b.quantity
        on_hand = Container.objects.filter(lot=b.lot, location=b.location)
        assert sum(on_hand.values_list("remaining", flat=True)) == b.quantity
    # The administrations are the demo's real sessions: one entry each, same patient and mg.
    dosed = {
        str(s.pk): s
        for s in TreatmentSession.objects.filter(clinic=clinic, administration__given__gt=0)
    }
    administered = entries.filter(kind=Kind.ADMINISTER)
    assert sorted(e.session_ref for e in administered) == sorted(dosed)
    for entry in administered:
        session = dosed[entry.session_ref]
        assert entry.patient_id == session.patient_id
        assert entry.mg == session.administration.total_given_mg
    # Every waste is witnessed but the latest, which waits for its witness.
    wastes = list(entries.filter(kind=Kind.WASTE).order_by("occurred_at"))
    assert len(wastes) >= 2 and all(w.witness_id for w in wastes[:-1])
    assert list(services.unwitnessed_waste(clinic)) == [wastes[-1]]
    receipt = entries.filter(kind=Kind.RECEIVE).first()
    assert dea_number_problem(receipt.supplier_dea_number) is None
    assert any(b.lot.number == "KX2407" for b in services.expiring_lots(clinic, clinic.today()))
    closing = CountSession.objects.get(clinic=clinic, kind="count")
    assert all(line.discrepancy == Decimal("0") for line in closing.lines.all())
    assert CountSession.objects.filter(clinic=clinic, kind="initial").exists()
