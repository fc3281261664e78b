"""The outcome dashboard on a network of clinics: time and query count as the data grows.

Run: DATABASE_URL=postgres://postgres@127.0.0.1:5432/kc_outcomes .venv/bin/python bench/outcomes.py
     (BENCH_CLINICS=50 BENCH_PATIENTS=1000 by default: 50 clinics, 50,000 patients)

Histories are bulk-inserted with outcomes.synthetic (the services refuse back-dated
times), the per-patient outcome rows are rebuilt with the backfill, and then one
clinic's dashboard (summary, safety and operations, drop-out reasons, and the whole
page through Django) is timed. The goal from issue 17: under 1 s, with a query count
that does not depend on the data size. Re-running reuses the clinics already built.

Measured 2026-12-06 on PostgreSQL on the shared 2-core box (load average ~15): 50 clinics,
50,000 patients, 449,723 sessions, 544,431 responses (build 27 min, backfill 123 s). One
1,000-patient clinic: summary 101 ms (4 queries), safety and operations 177 ms (8),
drop-out reasons 7 ms (1), the whole page 613 ms (21 queries); a 60-day cohort of another
clinic the same 4 queries; refreshing one patient's rows after a write 63 ms (13 queries).
"""

from __future__ import annotations

import os
import random
import statistics
import time
from datetime import time as clock
from datetime import timedelta

from _setup import django_on_scratch_db

django_on_scratch_db()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from ketaclinic.accounts.services import add_clinic, add_staff  # noqa: E402
from ketaclinic.measures.models import Response  # noqa: E402
from ketaclinic.outcomes import services, upkeep  # noqa: E402
from ketaclinic.outcomes.models import PatientCohort  # noqa: E402
from ketaclinic.outcomes.synthetic import build_history  # noqa: E402
from ketaclinic.patients.models import Patient  # noqa: E402
from ketaclinic.scheduling.models import OpeningHours, Room  # noqa: E402
from ketaclinic.treatment.models import TreatmentSession  # noqa: E402

CLINICS = int(os.environ.get("BENCH_CLINICS", "50"))
PATIENTS = int(os.environ.get("BENCH_PATIENTS", "1000"))
# Up to this many maintenance sessions after an induction: about 10 sessions a patient.
MAINTENANCE = int(os.environ.get("BENCH_MAINTENANCE", "9"))
REPEAT = 5


def build(n: int):
    clinic = add_clinic(slug=f"bench-outcomes-{n:02d}", name=f"Bench Clinic {n}")
    if Patient.objects.filter(clinic=clinic).exists():
        return clinic, None
    physicians = [
        add_staff(username=f"bench-o{n}-dr{k}", clinic=clinic, role="physician").user
        for k in range(3)
    ]
    nurse = add_staff(username=f"bench-o{n}-rn", clinic=clinic, role="nurse").user
    chairs = [
        Room.objects.create(clinic=clinic, name=f"Chair {k}", kind="treatment_chair", position=k)
        for k in range(4)
    ]
    OpeningHours.objects.bulk_create(
        OpeningHours(clinic=clinic, weekday=d, opens=clock(8), closes=clock(18)) for d in range(5)
    )
    today = timezone.localdate(timezone=clinic.tz)
    built = build_history(
        clinic,
        patients=PATIENTS,
        rng=random.Random(n),
        first_day=today - timedelta(days=3 * 365),
        last_day=today,
        physicians=physicians,
        nurse=nurse,
        chairs=chairs,
        mrn_prefix="B",
        maintenance=MAINTENANCE,
    )
    return clinic, built


def timed(fn, repeat: int = REPEAT):
    """(median seconds, queries of one run) over `repeat` runs after one warm-up."""
    fn()
    times = []
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
    return statistics.median(times), len(queries)


def main() -> None:
    print(f"database: {connection.vendor}; {CLINICS} clinics x {PATIENTS} patients")
    started = time.perf_counter()
    clinics = []
    for n in range(CLINICS):
        t0 = time.perf_counter()
        clinic, built = build(n)
        clinics.append(clinic)
        if built is not None:
            print(
                f"  built clinic {n + 1}/{CLINICS} in {time.perf_counter() - t0:.1f} s: {built.counts}"
            )
    print(f"build: {time.perf_counter() - started:.0f} s")
    if PatientCohort.objects.count() < Patient.objects.count():
        started = time.perf_counter()
        count = upkeep.backfill()
        print(
            f"backfill of outcome rows: {count} patients in {time.perf_counter() - started:.0f} s"
        )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    print(
        "totals: "
        f"{Patient.objects.count():,} patients, "
        f"{TreatmentSession.objects.count():,} sessions, "
        f"{Response.objects.count():,} questionnaire responses"
    )

    clinic = clinics[-1]
    patients = Patient.objects.filter(clinic=clinic).count()
    filters = services.Filters()
    print(f"\none clinic: {patients:,} patients")
    for name, fn in [
        ("summary (PHQ-9 by protocol)", lambda: services.summary(clinic, filters)),
        (
            "summary (GAD-7 by physician)",
            lambda: services.summary(
                clinic, services.Filters(instrument="gad7", group_by="physician")
            ),
        ),
        ("safety and operations", lambda: services.safety(clinic, filters)),
        ("drop-out reasons", lambda: services.dropout_reasons(clinic, filters)),
    ]:
        seconds, queries = timed(fn)
        print(f"  {name:32s} {seconds * 1000:7.1f} ms  {queries} queries")

    from ketaclinic.accounts.models import User

    client = Client()
    client.force_login(User.objects.get(username=f"bench-o{CLINICS - 1}-dr0"))

    def page():
        response = client.get("/outcomes/", HTTP_HOST="127.0.0.1")
        assert response.status_code == 200

    seconds, queries = timed(page)
    print(
        f"  {'whole dashboard page':32s} {seconds * 1000:7.1f} ms  {queries} queries  (goal < 1000 ms)"
    )

    small = clinics[0]
    small_filters = services.Filters(date_from=timezone.localdate() - timedelta(days=60))
    seconds, queries_small = timed(lambda: services.summary(small, small_filters))
    print(
        f"  summary on a 60-day cohort of another clinic: {seconds * 1000:.1f} ms, "
        f"{queries_small} queries (same count as the whole clinic's)"
    )

    one = Patient.objects.filter(clinic=clinic, treatment_sessions__isnull=False).first()
    seconds, queries = timed(lambda: upkeep.refresh_patients([one.pk]))
    print(
        f"  refresh of one patient's rows after a write: {seconds * 1000:.1f} ms, {queries} queries"
    )


if __name__ == "__main__":
    main()
