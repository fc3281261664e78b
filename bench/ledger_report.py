"""Ledger reports on 50,000 entries: time to build the PDF and the CSV an inspector asks for.

Run: .venv/bin/python bench/ledger_report.py   (DATABASE_URL=postgres://... for PostgreSQL)

The entries are bulk-inserted (the services would take minutes and are not what is
measured here); balances are computed as the services would.
"""

from __future__ import annotations

import random
import time
from datetime import date, datetime, timedelta
from decimal import Decimal

from _setup import django_on_scratch_db

django_on_scratch_db()

from django.db import models  # noqa: E402
from django.utils import timezone  # noqa: E402

from ketaclinic.accounts.services import add_clinic, add_staff  # noqa: E402
from ketaclinic.inventory import reports, services  # noqa: E402
from ketaclinic.inventory.models import Kind, LedgerEntry, Lot, Product  # noqa: E402
from ketaclinic.patients.models import Patient  # noqa: E402

N = 50_000
clinic = add_clinic(slug="bench-ledger", name="Bench Ledger Clinic", timezone="America/New_York")
nurse = add_staff(username="bench-nurse", clinic=clinic, role="nurse").user
doctor = add_staff(username="bench-doctor", clinic=clinic, role="physician").user
location = services.default_location(clinic)
product, _ = Product.objects.get_or_create(
    clinic=clinic,
    ndc="99999-0501-10",
    defaults={
        "name": "Ketamine 50 mg/mL, 10 mL vial",
        "substance": "ketamine",
        "unit": "mL",
        "mg_per_unit": Decimal("50"),
        "units_per_container": Decimal("10"),
    },
)
lot, _ = Lot.objects.get_or_create(
    clinic=clinic, product=product, number="BENCH1", defaults={"expiry": date(2030, 1, 1)}
)
patients = [
    Patient(
        clinic=clinic,
        mrn=f"B{i:06d}",
        given_name="Bench",
        family_name=f"P{i}",
        birth_date=date(1980, 1, 1),
        sex_at_birth="unknown",
    )
    for i in range(500)
]
if not Patient.objects.filter(clinic=clinic).exists():
    Patient.objects.bulk_create(patients)
patient_ids = list(Patient.objects.filter(clinic=clinic).values_list("pk", flat=True))

if not LedgerEntry.objects.filter(clinic=clinic).exists():
    started = time.perf_counter()
    rng = random.Random(7)
    balance = Decimal("0")
    when = timezone.now() - timedelta(days=730)
    step = timedelta(days=730) / N
    rows = []
    for i in range(N):
        when += step
        common = {
            "clinic": clinic,
            "location": location,
            "product": product,
            "lot": lot,
            "recorded_by": nurse,
            "recorded_at": when,
            "occurred_at": when,
        }
        if balance < 20 or i % 50 == 0:
            qty, kind, sign, extra = (
                Decimal("100"),
                Kind.RECEIVE,
                1,
                {
                    "supplier_name": "Pinecrest",
                    "supplier_address": "400 Commerce Way",
                    "supplier_dea_number": "RP4829137",
                    "invoice": f"I{i}",
                    "containers": 10,
                },
            )
        elif i % 2:
            qty = Decimal(rng.randint(30, 90)) / 100
            kind, sign, extra = (
                Kind.ADMINISTER,
                -1,
                {"patient_id": rng.choice(patient_ids), "session_ref": f"b{i}"},
            )
        else:
            qty = Decimal(rng.randint(900, 970)) / 100
            qty = min(qty, balance)
            kind, sign, extra = (
                Kind.WASTE,
                -1,
                {
                    "patient_id": rng.choice(patient_ids),
                    "session_ref": f"b{i - 1}",
                    "manner": "disposal container",
                    "witness": doctor,
                    "witnessed_at": when,
                },
            )
        balance += qty * sign
        rows.append(
            LedgerEntry(
                kind=kind,
                quantity=qty,
                mg=qty * 50,
                delta=qty * sign,
                balance_after=balance,
                **common,
                **extra,
            )
        )
    # The manager refuses bulk writes (append-only ledger); a benchmark fills the table directly.
    models.QuerySet(LedgerEntry).bulk_create(rows, batch_size=2000)
    print(f"inserted {N:,} entries in {time.perf_counter() - started:.1f} s")

for kind in ("ledger", "administrations", "disposals"):
    for fmt in ("csv", "pdf"):
        started = time.perf_counter()
        report = reports.build(kind, clinic)
        if fmt == "csv":
            size = len(reports.write_csv(report).encode())
        else:
            size = len(reports.write_pdf(report, clinic, by="bench"))
        took = time.perf_counter() - started
        print(f"{kind:16s} {fmt}: {took:6.2f} s, {size / 1e6:5.1f} MB")

one_day = timezone.localdate() - timedelta(days=100)
started = time.perf_counter()
report = reports.build("administrations", clinic, start=one_day, end=one_day)
size = len(reports.write_pdf(report, clinic, by="bench"))
print(f"one day's administrations pdf: {time.perf_counter() - started:.2f} s, {size / 1e3:.0f} kB")
assert isinstance(datetime.now(), datetime)
