"""FHIR Bulk Data export speed against reading the same rows raw, and memory as the record grows.

Generates a clinic of N patients (each: 2 conditions, an allergy, 2 medications, 8 PHQ-9
and 8 GAD-7 responses, 6 treatment sessions with 8 vital-sign readings each), exports
it with the same code as $export, and reads the same rows with values_list() as the
floor. Then doubles the clinic and exports again: peak Python memory (tracemalloc)
should not double with it.

Run: .venv/bin/python bench/fhir_export.py [patients]   (DATABASE_URL=postgres://... for PostgreSQL)

On a database that holds a network built by `python -m ketaclinic generate_network` (issue
#19: "the 50-clinic PostgreSQL data set"), it exports that instead, nothing is generated:
one clinic, then more clinics, then the whole network, each against the raw read of the
same rows, with the process's resident memory (RSS, sampled during the export) at each
size. FHIR_BENCH_CLINICS=1,10,50 chooses the sizes (numbers of clinics).

  DATABASE_URL=postgres://postgres@127.0.0.1:5432/kc_network .venv/bin/python bench/fhir_export.py
"""

from __future__ import annotations

import os
import random
import shutil
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from _setup import django_on_scratch_db

django_on_scratch_db()

from django.db import connection  # noqa: E402

from ketaclinic.accounts.models import Clinic  # noqa: E402
from ketaclinic.accounts.services import add_clinic, add_staff  # noqa: E402
from ketaclinic.interop import bulk, sources  # noqa: E402
from ketaclinic.measures.models import Response  # noqa: E402
from ketaclinic.patients.models import Allergy, Condition, Medication, Patient  # noqa: E402
from ketaclinic.scheduling.models import Appointment, Room, TreatmentCourse  # noqa: E402
from ketaclinic.treatment.models import (  # noqa: E402
    Administration,
    TreatmentSession,
    VitalReading,
)

PATIENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 300
# Wall-clock time by default; KETACLINIC_BENCH_CPU=1 measures this process's CPU time, for a
# shared machine where other work steals the cores (on SQLite the database runs in-process).
clock = time.process_time if os.environ.get("KETACLINIC_BENCH_CPU") else time.perf_counter
rng = random.Random(19)
START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
NETWORK = list(Clinic.objects.filter(slug__startswith="network-").order_by("slug"))


def rss() -> int:
    """This process's resident memory now, in bytes (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def load() -> str:
    return "load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def add_patients(count: int) -> None:
    first = Patient.objects.filter(clinic=clinic).count()
    patients = Patient.objects.bulk_create(
        Patient(
            clinic=clinic,
            mrn=f"B{first + i:07d}",
            given_name="Ann",
            family_name=f"Bench{first + i}",
            birth_date=date(1950 + i % 50, 1 + i % 12, 1 + i % 28),
            sex_at_birth="female" if i % 2 else "male",
            weight_kg=Decimal("70.5"),
            weight_measured_on=date(2025, 1, 6),
            height_cm=Decimal("170"),
            height_measured_on=date(2025, 1, 6),
        )
        for i in range(count)
    )
    Condition.objects.bulk_create(
        Condition(clinic=clinic, patient=p, code=code, icd10cm=icd)
        for p in patients
        for code, icd in (("mdd", "F33.1"), ("gad", "F41.1"))
    )
    Allergy.objects.bulk_create(
        Allergy(clinic=clinic, patient=p, substance="Penicillin", reaction="Rash") for p in patients
    )
    Medication.objects.bulk_create(
        Medication(clinic=clinic, patient=p, name=name, med_class=cls, dose="10 mg")
        for p in patients
        for name, cls in (("Sertraline", "oral_antidepressant"), ("Amlodipine", "antihypertensive"))
    )
    Response.objects.bulk_create(
        Response(
            clinic=clinic,
            patient=p,
            instrument=inst,
            version=1,
            answers=answers,
            total=sum(answers),
            taken_at=START + timedelta(days=7 * week),
        )
        for p in patients
        for week in range(8)
        for inst, answers in (
            ("phq9", [rng.randint(0, 3) for _ in range(9)]),
            ("gad7", [rng.randint(0, 3) for _ in range(7)]),
        )
    )
    courses = TreatmentCourse.objects.bulk_create(
        TreatmentCourse(
            clinic=clinic, patient=p, protocol_code="ketamine-iv-mood", protocol_version=1,
            family="ketamine-iv-mood", planned_sessions=6, start_date=date(2025, 1, 6),
            prescriber=nurse.user, status="active",
        )
        for p in patients
    )  # fmt: skip
    appointments = Appointment.objects.bulk_create(
        Appointment(
            clinic=clinic, patient=c.patient, kind="treatment", room=chair, course=c, staff=nurse,
            start=START + timedelta(days=3 * n), end=START + timedelta(days=3 * n, hours=2),
            status="completed",
        )
        for c in courses
        for n in range(6)
    )  # fmt: skip
    sessions = TreatmentSession.objects.bulk_create(
        TreatmentSession(
            clinic=clinic, patient_id=a.patient_id, appointment=a, course=a.course, room=chair,
            protocol_code="ketamine-iv-mood", protocol_version=1, drug="racemic_ketamine",
            route="iv", state="discharged", started_at=a.start, started_by=nurse.user,
            dose_started_at=a.start + timedelta(minutes=10),
            dose_ended_at=a.start + timedelta(minutes=50),
        )
        for a in appointments
    )  # fmt: skip
    Administration.objects.bulk_create(
        Administration(
            session=s, drug="racemic_ketamine", product="Ketamine 10 mg/mL", lot_number="KX1",
            route="iv", dose_mg=Decimal("35"), unit="mL", total_given_mg=Decimal("35"),
            rate_ml_per_h=Decimal("5.25"), recorded_by=nurse.user, recorded_at=s.started_at,
        )
        for s in sessions
    )  # fmt: skip
    VitalReading.objects.bulk_create(
        (
            VitalReading(
                session=s, taken_at=s.started_at + timedelta(minutes=10 * k), phase="during",
                systolic=rng.randint(110, 160), diastolic=rng.randint(65, 95),
                heart_rate=rng.randint(55, 100), spo2=rng.randint(94, 100),
                respiratory_rate=rng.randint(10, 20), recorded_by=nurse.user,
                recorded_at=s.started_at + timedelta(minutes=10 * k),
            )
            for s in sessions
            for k in range(8)
        ),
        batch_size=5000,
    )  # fmt: skip


def raw_read(clinics: list[Clinic]) -> tuple[int, float]:
    """Read every row an export reads, as tuples: the floor for the export's speed."""
    started = clock()
    rows = 0
    for clinic in clinics:
        for name in bulk.DEFAULT_TYPES:
            if name == "Questionnaire":
                continue
            for source in sources.TYPES[name].sources:
                for _row in source.rows(clinic).values_list().iterator(chunk_size=2000):
                    rows += 1
    return rows, clock() - started


def cursor_read(clinics: list[Clinic]) -> tuple[int, float]:
    """The same rows through the database cursor alone (the same SQL, fetched 2,000 at a
    time, no Django row handling): the lowest floor there is short of not reading."""
    started = clock()
    rows = 0
    with connection.cursor() as cursor:
        for clinic in clinics:
            for name in bulk.DEFAULT_TYPES:
                if name == "Questionnaire":
                    continue
                for source in sources.TYPES[name].sources:
                    sql, params = source.rows(clinic).values_list().query.sql_with_params()
                    cursor.execute(sql, params)
                    while batch := cursor.fetchmany(2000):
                        rows += len(batch)
    return rows, clock() - started


def model_read(clinics: list[Clinic]) -> tuple[int, float]:
    """Read the same rows as model instances (with the joins the export uses)."""
    started = clock()
    rows = 0
    for clinic in clinics:
        for name in bulk.DEFAULT_TYPES:
            if name == "Questionnaire":
                continue
            for source in sources.TYPES[name].sources:
                qs = source.model._default_manager.filter(**{source.clinic: clinic.pk})
                for _row in qs.select_related(*source.related).iterator(chunk_size=2000):
                    rows += 1
    return rows, clock() - started


def export(clinics: list[Clinic], *, trace: bool = False) -> tuple[int, float, int, int]:
    """Export the clinics as $export does (one after another, as the worker would); returns
    resources, seconds, peak traced bytes (with ``trace``) and peak RSS seen during it.

    Memory is traced in a separate run: tracing slows Python down several times.
    """
    folder = Path(tempfile.mkdtemp(prefix="fhir-bench-"))
    if trace:
        tracemalloc.start()
    peak_rss = rss()
    seen = 0

    def tick(n: int) -> None:
        nonlocal seen, peak_rss
        seen += n
        if seen % 20_000 == 0:
            peak_rss = max(peak_rss, rss())

    started = clock()
    written = 0
    try:
        for clinic in clinics:
            for name in bulk.DEFAULT_TYPES:
                files = bulk.write_type(
                    bulk.resources_of(clinic, name, since=None, patient_ids=None),
                    folder, name, limit_bytes=100 * 2**20, tick=tick,
                )  # fmt: skip
                written += sum(count for _name, count in files)
                for file_name, _count in files:
                    (folder / file_name).unlink()  # the disk is not what is measured
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    elapsed = clock() - started
    peak = 0
    if trace:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return written, elapsed, peak, max(peak_rss, rss())


def network() -> None:
    """Export the generated network's clinics at several sizes (nothing is written to it)."""
    sizes = [
        min(int(n), len(NETWORK))
        for n in os.environ.get("FHIR_BENCH_CLINICS", f"1,10,{len(NETWORK)}").split(",")
    ]
    patients = Patient.objects.filter(clinic__slug__startswith="network-").count()
    print(
        f"{connection.vendor} ({'CPU' if clock is time.process_time else 'wall'} time): network of "
        f"{len(NETWORK)} clinics, {patients:,} patients [{load()}]"
    )
    export(NETWORK[:1])  # warm: instrument definitions loaded, caches filled
    print(f"  RSS after warming {rss() / 2**20:.0f} MiB")
    for size in dict.fromkeys(sizes):
        clinics = NETWORK[:size]
        rows, raw_seconds = raw_read(clinics)
        _rows, cursor_seconds = cursor_read(clinics)
        before = rss()
        resources, seconds, _, peak_rss = export(clinics)
        print(
            f"{size} clinic{'s' if size > 1 else ''}: {rows:,} rows -> {resources:,} resources "
            f"[{load()}]\n"
            f"  export        {seconds:7.1f} s  {resources / seconds:9,.0f} resources/s "
            f"({rows / seconds:,.0f} rows/s)\n"
            f"  raw read      {raw_seconds:7.1f} s  {rows / raw_seconds:9,.0f} rows/s (values_list)\n"
            f"  export / raw read: {raw_seconds / seconds:.2f}x in time for the same rows; "
            f"resources/s over raw rows/s {resources / seconds / (rows / raw_seconds):.2f}x\n"
            f"  cursor read   {cursor_seconds:7.1f} s  {rows / cursor_seconds:9,.0f} rows/s (same SQL, "
            f"no ORM)  -> export at {cursor_seconds / seconds:.2f}x in time, resources/s over "
            f"rows/s {resources / seconds / (rows / cursor_seconds):.2f}x\n"
            f"  RSS {before / 2**20:.0f} MiB before, peak {peak_rss / 2**20:.0f} MiB during "
            f"(+{(peak_rss - before) / 2**20:.1f} MiB)"
        )


def own_clinic() -> None:
    """Build a clinic of PATIENTS, export it, double it, export again."""
    global clinic, nurse, chair
    clinic = add_clinic(slug="bench-fhir", name="Bench FHIR")
    nurse = add_staff(
        username="bench-fhir-nurse", clinic=clinic, role="nurse", check_password=False
    )
    add_staff(username="bench-fhir-admin", clinic=clinic, role="admin", check_password=False)
    chair, _ = Room.objects.get_or_create(clinic=clinic, name="Chair 1", kind="treatment_chair")
    for size in (PATIENTS, PATIENTS * 2):
        add_patients(size - Patient.objects.filter(clinic=clinic).count())
        export([clinic])  # warm: instrument definitions loaded, caches filled
        rows, raw_seconds = raw_read([clinic])
        _rows, model_seconds = model_read([clinic])
        resources, seconds, _, _ = export([clinic])
        _, _, peak, _ = export([clinic], trace=True)
        print(
            f"{connection.vendor} ({'CPU' if clock is time.process_time else 'wall'} time), "
            f"{size:,} patients, {rows:,} rows -> {resources:,} resources\n"
            f"  export        {seconds:6.2f} s  {resources / seconds:9,.0f} resources/s\n"
            f"  raw read      {raw_seconds:6.2f} s  {rows / raw_seconds:9,.0f} rows/s (values_list)"
            f"  -> export at {raw_seconds / seconds:.2f}x\n"
            f"  model read    {model_seconds:6.2f} s  {rows / model_seconds:9,.0f} rows/s (ORM instances)"
            f"  -> export at {model_seconds / seconds:.2f}x\n"
            f"  peak Python memory during the export {peak / 2**20:.1f} MiB"
        )


if NETWORK and not os.environ.get("FHIR_BENCH_OWN_CLINIC"):
    network()
else:
    own_clinic()
