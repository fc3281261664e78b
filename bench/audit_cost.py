"""What the audit trail costs: per chart view, per event, and sealing/verifying throughput.

Run: .venv/bin/python bench/audit_cost.py   (DATABASE_URL=postgres://... for PostgreSQL)
"""

from __future__ import annotations

import statistics
import time
from datetime import date

from _setup import django_on_scratch_db

django_on_scratch_db()

from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402

from ketaclinic.accounts.access import Actor  # noqa: E402
from ketaclinic.accounts.services import add_clinic, add_staff  # noqa: E402
from ketaclinic.audit.models import AuditEvent  # noqa: E402
from ketaclinic.audit.services import record, seal_pending, unsealed_chains, verify  # noqa: E402
from ketaclinic.patients.models import Patient  # noqa: E402

clinic = add_clinic(slug="bench-audit", name="Bench")
membership = add_staff(username="bench-nurse", clinic=clinic, role="nurse", check_password=False)
actor = Actor(user=membership.user, membership=membership, ip="127.0.0.1")
patient, _ = Patient.objects.get_or_create(
    clinic=clinic,
    mrn="A1",
    defaults=dict(
        given_name="Ann", family_name="Bench", birth_date=date(1980, 1, 1), sex_at_birth="female"
    ),
)

# 1. One audit event on its own (an INSERT with a SHA-256 computed in Python).
runs = []
for _ in range(2000):
    started = time.perf_counter()
    with transaction.atomic():
        record(actor, "view", patient_id=patient.pk, obj=patient)
    runs.append((time.perf_counter() - started) * 1000)
print(f"{connection.vendor}: one audit event        median {statistics.median(runs):.3f} ms")

# 1b. The same inside one open transaction: the event's own statements, without a commit
# (a commit's fsync dominates 1. on a busy disk and is paid once per request anyway).
runs = []
with transaction.atomic():
    for _ in range(2000):
        started = time.perf_counter()
        record(actor, "view", patient_id=patient.pk, obj=patient)
        runs.append((time.perf_counter() - started) * 1000)
print(f"{connection.vendor}: one event, no commit   median {statistics.median(runs):.3f} ms")

# 2. A whole chart page, served through the test client (includes the event).
client = Client(SERVER_NAME="localhost")
client.force_login(membership.user)
assert client.get(f"/patients/{patient.pk}/").status_code == 200
runs = []
for _ in range(300):
    started = time.perf_counter()
    client.get(f"/patients/{patient.pk}/")
    runs.append((time.perf_counter() - started) * 1000)
print(f"{connection.vendor}: chart page (with event) median {statistics.median(runs):.2f} ms")

# 3. Sealing and verifying.
pending = sum(head - through for _, head, through in unsealed_chains())
started = time.perf_counter()
sealed = seal_pending()
elapsed = time.perf_counter() - started
print(
    f"{connection.vendor}: sealed {sealed:,} events in {elapsed * 1000:.0f} ms ({sealed / elapsed:,.0f} events/s)"
)
started = time.perf_counter()
problems = verify()
elapsed = time.perf_counter() - started
total = AuditEvent.objects.count()
print(
    f"{connection.vendor}: verified {total:,} events in {elapsed * 1000:.0f} ms ({total / elapsed:,.0f} events/s), problems: {len(problems)}"
)
