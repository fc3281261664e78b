"""What a PHQ-9 trend chart page costs with 5 and with 500 past scores.

The chart also marks every dosed session (one indexed query of their start times); the
scores are what the drawing's cost followed.

Run: .venv/bin/python bench/trend_chart.py   (DATABASE_URL=postgres://... for PostgreSQL)
Goal (issue #13): 500 no more than 1.5x the time of 5, and under 50 ms.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, date, datetime, timedelta

from _setup import django_on_scratch_db

django_on_scratch_db()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from ketaclinic.accounts.services import add_clinic, add_staff  # noqa: E402
from ketaclinic.measures.models import Response  # noqa: E402
from ketaclinic.patients.models import Patient  # noqa: E402

clinic = add_clinic(slug="bench-chart", name="Bench")
membership = add_staff(username="bench-doc", clinic=clinic, role="physician", check_password=False)
base = datetime(2020, 1, 1, 15, tzinfo=UTC)


def patient_with(history: int, mrn: str) -> Patient:
    """A patient with `history` weekly PHQ-9 scores and as many dosed sessions."""
    patient = Patient.objects.create(
        clinic=clinic,
        mrn=mrn,
        given_name="Ann",
        family_name="Bench",
        birth_date=date(1980, 1, 1),
        sex_at_birth="female",
    )
    Response.objects.bulk_create(
        Response(
            clinic=clinic,
            patient=patient,
            instrument="phq9",
            version=1,
            answers=[1] * 9,
            total=(week * 7) % 28,
            taken_at=base + timedelta(weeks=week),
            source="clinician",
        )
        for week in range(history)
    )
    return patient


def median_ms(client: Client, url: str, runs: int = 60) -> float:
    assert client.get(url).status_code == 200
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


client = Client(SERVER_NAME="localhost")
client.force_login(membership.user)
few, many = patient_with(5, "C5"), patient_with(500, "C500")
small = median_ms(client, f"/measures/patients/{few.pk}/chart/phq9.svg")
large = median_ms(client, f"/measures/patients/{many.pk}/chart/phq9.svg")
print(f"{connection.vendor}: PHQ-9 chart, 5 scores    median {small:.1f} ms")
print(f"{connection.vendor}: PHQ-9 chart, 500 scores  median {large:.1f} ms")
print(f"{connection.vendor}: ratio 500 / 5            {large / small:.2f}x (goal <= 1.5x, < 50 ms)")
