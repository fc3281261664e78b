"""Patient search on 100,000 patients: median and p95 time per search, and queries per search.

Run: .venv/bin/python bench/patient_search.py   (DATABASE_URL=postgres://... for PostgreSQL)
"""

from __future__ import annotations

import random
import statistics
import time
from datetime import date

from _setup import django_on_scratch_db

django_on_scratch_db()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from ketaclinic.accounts.access import Actor  # noqa: E402
from ketaclinic.accounts.services import add_clinic, add_staff  # noqa: E402
from ketaclinic.patients.models import Patient, search_key  # noqa: E402
from ketaclinic.patients.services import search_patients  # noqa: E402

N = 100_000
FAMILY = [
    f"{a}{b}"
    for a in ("Gar", "Ok", "Ngu", "Kow", "Had", "Joh", "Pat", "Ros", "Tan", "Sil")
    for b in ("cia", "onkwo", "yen", "alski", "dad", "ansson", "el", "si", "aka", "va")
]
GIVEN = ["Maria", "James", "Aisha", "Omar", "Emily", "Kenji", "Sofia", "Liam", "Mei", "Noah"]

clinic = add_clinic(slug="bench", name="Bench")
actor = Actor(
    user=add_staff(username="bench", clinic=clinic, role="nurse").user,
    membership=add_staff(username="bench", clinic=clinic, role="nurse"),
)
rng = random.Random(1)
if not Patient.objects.filter(clinic=clinic).exists():
    started = time.perf_counter()
    batch = []
    for i in range(N):
        family, given = rng.choice(FAMILY) + str(i % 97), rng.choice(GIVEN)
        batch.append(
            Patient(
                clinic=clinic,
                mrn=f"B{i:07d}",
                given_name=given,
                family_name=family,
                family_key=search_key(family),
                given_key=search_key(given),
                birth_date=date(1950 + i % 50, 1 + i % 12, 1 + i % 28),
                sex_at_birth="female",
            )
        )
        if len(batch) == 5000:
            Patient.objects.bulk_create(batch)
            batch = []
    print(f"loaded {N:,} patients in {time.perf_counter() - started:.1f} s")
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA optimize=0x10002")  # what the worker runs every 10 minutes

queries = ["garcia1", "ok", "Tanaka5, Mei", "maria silva", "B0054321", "1975-04-15", "zz"]
timings: dict[str, list[float]] = {q: [] for q in queries}
for _ in range(30):
    for q in queries:
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as captured:
            page = list(search_patients(actor=actor, query=q)[:25])
            total = search_patients(actor=actor, query=q).count()
        timings[q].append((time.perf_counter() - started) * 1000)
print(f"{connection.vendor}: first page of 25 plus the match count, 30 runs each")
for q in queries:
    t = sorted(timings[q])
    print(
        f"  {q!r:16} median {statistics.median(t):6.2f} ms  p95 {t[int(len(t) * 0.95) - 1]:6.2f} ms  queries {len(captured)}"
    )
