"""A clinic network of realistic size, for benchmarks: `python -m ketaclinic generate_network`.

Every row is written straight into its table (COPY on PostgreSQL, executemany on SQLite),
with explicit ids, and the sequences moved past them at the end. The data is valid the
way the application's own writes are: discharged sessions with their appointment,
administration and vital signs; questionnaire responses scored by the instruments;
a Schedule III ledger whose entries are hashed and chained per lot, each vouched by its
audit event; and an audit trail numbered, linked and sealed per clinic, its seal heads
written to the anchor file, so `verify_audit` and `verify_ledger` pass on it.

Nothing here is a real person: names come from short lists, ids are synthetic.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection, models, transaction
from django.db.models import JSONField

from ketaclinic.accounts.models import Clinic
from ketaclinic.accounts.services import add_clinic, add_staff
from ketaclinic.audit import anchor
from ketaclinic.audit.models import AuditChain, AuditEvent, AuditSeal
from ketaclinic.audit.services import GENESIS, merkle_root, seal_hash, seal_pending
from ketaclinic.clinical.instruments.scoring import score
from ketaclinic.inventory import ledger_chain
from ketaclinic.inventory.models import LedgerEntry, Location, Lot, Product
from ketaclinic.measures.models import Response
from ketaclinic.patients.models import Patient, search_key
from ketaclinic.scheduling.models import Appointment, Room, TreatmentCourse
from ketaclinic.treatment.models import Administration, TreatmentSession, VitalReading

GIVEN = (
    "Ana Ben Carla Dev Elena Farid Grace Hugo Ines Jamal Kira Liam Maya Noor Omar Priya "
    "Quinn Rosa Sami Tara Uma Victor Wen Xavier Yara Zane Ada Bruno Chloe Diego"
).split()
FAMILY = (
    "Adams Baker Chen Diaz Evans Fischer Garcia Haddad Ito Jensen Kaur Lopez Murphy Nguyen "
    "Okafor Patel Quist Rossi Silva Tanaka Usman Varga Weber Xu Young Zhang Alvarez Brooks "
    "Costa Dubois Eriksen Fontaine Gupta Hansen Ibrahim Jovanovic Kowalski Larsen Moreau Novak"
).split()
SEAL_SIZE = 5000  # events per seal, as the worker seals a busy clinic
DAY = timedelta(days=1)


class Progress:
    """A one-line progress bar on stderr: label, count of total, rate."""

    def __init__(self, label: str, total: int, out: Any = None) -> None:
        self.label, self.total, self.done = label, max(total, 1), 0
        self.out = out or sys.stderr
        self.started = self.shown = time.perf_counter()

    def add(self, n: int) -> None:
        self.done += n
        now = time.perf_counter()
        if now - self.shown > 0.5 or self.done >= self.total:
            self.shown = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        share = min(self.done / self.total, 1.0)
        bar = "#" * int(share * 30)
        rate = self.done / max(now - self.started, 1e-9)
        self.out.write(
            f"\r{self.label:<14} [{bar:<30}] {self.done:>11,}/{self.total:,} {rate:>9,.0f}/s"
        )
        self.out.flush()

    def close(self) -> float:
        now = time.perf_counter()
        self._draw(now)
        self.out.write(f"  {now - self.started:.1f} s\n")
        return now - self.started


class Table:
    """Rows for one model: the columns given per row, then every other column's default."""

    def __init__(self, model: type[models.Model], columns: Sequence[str], now: datetime) -> None:
        self.model = model
        self.table = model._meta.db_table
        given = set(columns)
        rest, values = [], []
        for f in model._meta.concrete_fields:
            if f.column in given:
                continue
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                value = now
            elif isinstance(f, JSONField):
                value = json.dumps(f.get_default())
            else:
                value = f.get_default()
            if value is None and not f.null:
                raise ValueError(f"{model.__name__}.{f.name} needs a value")
            rest.append(f.column)
            values.append(value)
        self.columns = [*columns, *rest]
        self.rest = tuple(values)
        unknown = given - {f.column for f in model._meta.concrete_fields}
        if unknown:
            raise ValueError(f"{model.__name__} has no column {sorted(unknown)}")


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, Decimal):
        return str(value)
    return value


def write(table: Table, rows: Iterable[tuple[Any, ...]]) -> int:
    """Append rows (each the table's given columns) to its table; returns how many."""
    count = 0
    names = ", ".join(connection.ops.quote_name(c) for c in table.columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            raw = cursor.cursor  # psycopg's own cursor: COPY
            with raw.copy(f"COPY {table.table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row + table.rest)
                    count += 1
            return count
        marks = ", ".join(["%s"] * len(table.columns))
        # Table and column names come from the models, never from input.
        sql = f"INSERT INTO {table.table} ({names}) VALUES ({marks})"  # noqa: S608
        batch: list[tuple[Any, ...]] = []
        for row in rows:
            batch.append(tuple(_sqlite_value(v) for v in row + table.rest))
            if len(batch) >= 5000:
                cursor.executemany(sql, batch)
                count += len(batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)
            count += len(batch)
    return count


def next_id(model: type[models.Model]) -> int:
    return (model.objects.aggregate(m=models.Max("id"))["m"] or 0) + 1


def fix_sequences(*used: type[models.Model]) -> None:
    """Move each table's id sequence past the explicit ids written (PostgreSQL)."""
    if connection.vendor != "postgresql":
        return  # SQLite's AUTOINCREMENT-free rowid follows max(id) by itself
    with connection.cursor() as cursor:
        for model in used:
            table = model._meta.db_table
            most = f"SELECT MAX(id) FROM {table}"  # noqa: S608 (a model's table name)
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence(%s, 'id'), GREATEST(({most}), 1))",
                [table],
            )


@dataclass
class Sizes:
    clinics: int
    patients: int
    sessions: int
    vitals: int
    responses: int
    audit: int

    def share(self, total: int, clinic: int) -> int:
        """Clinic number `clinic`'s share of `total` (the remainder goes to the first ones)."""
        return total // self.clinics + (1 if clinic < total % self.clinics else 0)


@dataclass
class ClinicState:
    clinic: Clinic
    staff: dict[str, Any]
    chairs: list[int]
    location: int = 0
    product: int = 0
    ledger_events: list[tuple[datetime, int, str, dict[str, Any]]] = field(default_factory=list)


@dataclass
class Ids:
    """The next free id of every table written."""

    values: dict[type[models.Model], int]

    def take(self, model: type[models.Model], n: int = 1) -> int:
        first = self.values[model]
        self.values[model] = first + n
        return first


MODELS: tuple[type[models.Model], ...] = (
    Patient,
    TreatmentCourse,
    Appointment,
    TreatmentSession,
    Administration,
    VitalReading,
    Response,
    Lot,
    LedgerEntry,
    AuditEvent,
    AuditSeal,
)


def generate(
    sizes: Sizes, *, seed: int = 13, out: Any = None, sealed: bool = True
) -> dict[str, float]:
    """Build the network; returns seconds per stage."""
    out = out or sys.stderr
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    first_clinic = Clinic.objects.filter(slug__startswith="network-").count()
    states = [_clinic(first_clinic + n) for n in range(sizes.clinics)]
    seal_pending()  # the chains we extend start from sealed heads
    ids = Ids({m: next_id(m) for m in MODELS})
    tables = _tables(now)
    instruments = _instruments()
    total = sizes.patients + 2 * sizes.sessions + sizes.vitals + sizes.responses + sizes.audit
    bar = Progress("rows", total, out)
    bars = dict.fromkeys(("patients", "sessions", "vitals", "responses", "ledger", "audit"), bar)
    # Ledger entries and audit events are numbered across clinics as they would be written
    # (the clinics' ids interleave: k-th of clinic n = base + k * clinics + n), so the
    # planner sees the real mix, not one clinic's block after another.
    per_clinic = -(-sizes.sessions // sizes.clinics)
    ledger_bound = per_clinic + per_clinic // 500 + 2
    audit_bound = max(-(-sizes.audit // sizes.clinics), ledger_bound)
    stride = {
        LedgerEntry: ids.take(LedgerEntry, sizes.clinics * ledger_bound),
        AuditEvent: ids.take(AuditEvent, sizes.clinics * audit_bound),
    }
    with _indexes_later(MODELS, out):
        for n, state in enumerate(states):
            with transaction.atomic():
                _fast_load()
                _one_clinic(
                    n, state, sizes, rng, now, ids, tables, instruments, bars, sealed, stride
                )
        timings["rows"] = bar.close()
    fix_sequences(*MODELS)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    timings["total"] = time.perf_counter() - started
    return timings


def _fast_load() -> None:
    """PostgreSQL: skip the foreign-key triggers (the rows are built consistent) and the
    wait for the disk on commit, for this transaction only."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute("SET LOCAL synchronous_commit = off")


@contextmanager
def _indexes_later(used: Sequence[type[models.Model]], out: Any) -> Iterator[None]:
    """PostgreSQL: drop the tables' secondary indexes and unique constraints during the load
    and build them once at the end (far faster than maintaining them row by row); building
    a unique one again checks that the generated rows respect it."""
    if connection.vendor != "postgresql":
        yield
        return
    again: list[str] = []
    with connection.cursor() as cursor:
        for model in used:
            table = model._meta.db_table
            cursor.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
                " WHERE conrelid = %s::regclass AND contype = 'u'",
                [table],
            )
            for name, definition in cursor.fetchall():
                again.append(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
                cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
            cursor.execute(
                "SELECT indexname, indexdef FROM pg_indexes i WHERE tablename = %s"
                " AND NOT EXISTS (SELECT 1 FROM pg_constraint c"
                " WHERE c.conname = i.indexname AND c.conrelid = %s::regclass)",
                [table, table],
            )
            for name, definition in cursor.fetchall():
                again.append(definition)
                cursor.execute(f"DROP INDEX {name}")
    try:
        yield
    finally:
        bar = Progress("indexes", len(again), out)
        with connection.cursor() as cursor:
            cursor.execute("SET maintenance_work_mem = '256MB'")
            for sql in again:
                cursor.execute(sql)
                bar.add(1)
        bar.close()


def _clinic(number: int) -> ClinicState:
    clinic = add_clinic(slug=f"network-{number:03d}", name=f"Network clinic {number + 1}")
    staff = {}
    for role, name in (
        ("physician", "dr"),
        ("nurse", "nurse"),
        ("nurse", "nurse2"),
        ("admin", "admin"),
        ("front_desk", "desk"),
    ):
        staff[name] = add_staff(
            username=f"net{number:03d}.{name}", clinic=clinic, role=role, check_password=False
        )
    chairs = []
    for k in range(6):
        room, _ = Room.objects.get_or_create(
            clinic=clinic, name=f"Chair {k + 1}", defaults={"kind": "treatment_chair"}
        )
        chairs.append(room.pk)
    location, _ = Location.objects.get_or_create(clinic=clinic, name="Main safe")
    product, _ = Product.objects.get_or_create(
        clinic=clinic,
        ndc="0409-2051-05",
        defaults={
            "name": "Ketamine HCl injection 50 mg/mL, 10 mL vial",
            "substance": "ketamine",
            "form": "vial",
            "strength": "50 mg/mL",
            "unit": "mL",
            "mg_per_unit": Decimal("50"),
            "units_per_container": Decimal("10"),
        },
    )
    return ClinicState(clinic, staff, chairs, location.pk, product.pk)


def _tables(now: datetime) -> dict[str, Table]:
    return {
        "patient": Table(
            Patient,
            [
                "id",
                "clinic_id",
                "mrn",
                "given_name",
                "family_name",
                "birth_date",
                "sex_at_birth",
                "phone",
                "weight_kg",
                "weight_measured_on",
                "height_cm",
                "height_measured_on",
                "status",
                "family_key",
                "given_key",
                "created_at",
            ],
            now,
        ),  # fmt: skip
        "course": Table(
            TreatmentCourse,
            [
                "id",
                "clinic_id",
                "patient_id",
                "protocol_code",
                "protocol_version",
                "family",
                "planned_sessions",
                "start_date",
                "status",
                "prescriber_id",
                "signed_at",
                "activated_at",
            ],
            now,
        ),  # fmt: skip
        "appointment": Table(
            Appointment,
            [
                "id",
                "clinic_id",
                "patient_id",
                "kind",
                "room_id",
                "course_id",
                "staff_id",
                "start",
                "end",
                "status",
            ],
            now,
        ),  # fmt: skip
        "session": Table(
            TreatmentSession,
            [
                "id",
                "clinic_id",
                "patient_id",
                "appointment_id",
                "course_id",
                "room_id",
                "protocol_code",
                "protocol_version",
                "drug",
                "route",
                "state",
                "started_at",
                "started_by_id",
                "first_session",
                "dose_started_at",
                "dose_ended_at",
                "dissociation_resolved",
                "walks_steadily",
                "escort_present",
                "respiratory_depression",
                "could_have_left_at",
                "discharged_at",
                "nurse_signed_by_id",
                "nurse_signed_at",
            ],
            now,
        ),  # fmt: skip
        "administration": Table(
            Administration,
            [
                "id",
                "session_id",
                "drug",
                "product",
                "lot_number",
                "ledger_lot_id",
                "route",
                "dose_mg",
                "dose_mg_per_kg",
                "weight_basis",
                "weight_used_kg",
                "concentration_mg_per_ml",
                "rate_ml_per_h",
                "unit",
                "drawn",
                "given",
                "left_over",
                "total_given_mg",
                "recorded_by_id",
                "recorded_at",
                "posted_to_ledger_at",
            ],
            now,
        ),  # fmt: skip
        "vital": Table(
            VitalReading,
            [
                "id",
                "session_id",
                "taken_at",
                "phase",
                "systolic",
                "diastolic",
                "heart_rate",
                "spo2",
                "respiratory_rate",
                "recorded_by_id",
                "recorded_at",
            ],
            now,
        ),  # fmt: skip
        "response": Table(
            Response,
            [
                "id",
                "clinic_id",
                "patient_id",
                "instrument",
                "version",
                "answers",
                "total",
                "severity",
                "severity_label",
                "subscores",
                "prorated",
                "missing_items",
                "provisional_diagnosis",
                "above_cutoff",
                "taken_at",
                "entered_by_id",
                "source",
                "created_at",
            ],
            now,
        ),  # fmt: skip
        "lot": Table(
            Lot, ["id", "clinic_id", "product_id", "number", "expiry", "supplier_name"], now
        ),
        "ledger": Table(
            LedgerEntry,
            ["id", *ledger_chain.HASHED, "prev_hash", "hash"],
            now,
        ),
        "audit": Table(
            AuditEvent,
            [
                "id",
                "event_id",
                "at",
                "clinic_id",
                "user_id",
                "username",
                "role",
                "patient_id",
                "action",
                "object_type",
                "object_id",
                "ip",
                "via_token",
                "detail",
                "digest",
                "seq",
                "link",
                "seal_id",
            ],
            now,
        ),  # fmt: skip
        "seal": Table(
            AuditSeal,
            [
                "id",
                "clinic_id",
                "chain",
                "seq",
                "first_event",
                "last_event",
                "count",
                "merkle_root",
                "prev_hash",
                "hash",
                "sealed_at",
            ],
            now,
        ),  # fmt: skip
    }


def _instruments() -> dict[str, Any]:
    from ketaclinic.measures.registry import instruments

    found = instruments()
    return {"phq9": found["phq9"], "gad7": found["gad7"]}


def _one_clinic(
    n: int,
    state: ClinicState,
    sizes: Sizes,
    rng: random.Random,
    now: datetime,
    ids: Ids,
    tables: dict[str, Table],
    instruments: dict[str, Any],
    bars: dict[str, Progress],
    sealed: bool,
    stride: dict[type[models.Model], int],
) -> None:
    clinic = state.clinic
    n_patients = sizes.share(sizes.patients, n)
    n_sessions = sizes.share(sizes.sessions, n)
    n_vitals = sizes.share(sizes.vitals, n)
    n_responses = sizes.share(sizes.responses, n)
    dr, nurses = state.staff["dr"], [state.staff["nurse"], state.staff["nurse2"]]
    window_start = now - timedelta(days=730)

    # Patients.
    first_patient = ids.take(Patient, n_patients)
    patients = []
    for i in range(n_patients):
        given, family = rng.choice(GIVEN), rng.choice(FAMILY)
        birth = date(1950, 1, 1) + timedelta(days=rng.randrange(0, 54 * 365))
        weight = Decimal(rng.randrange(480, 1150)) / 10
        patients.append(
            (
                first_patient + i, clinic.pk, f"N{n:03d}-{i:06d}", given, family, birth,
                rng.choice(("female", "male")), f"555-01{i % 100:02d}", weight,
                (now - timedelta(days=rng.randrange(1, 20))).date(),
                Decimal(rng.randrange(150, 195)), window_start.date(), "active",
                search_key(family), search_key(given), window_start,
            )
        )  # fmt: skip
    bars["patients"].add(write(tables["patient"], patients))

    # Sessions per patient (twice weekly), each with its course, appointment, dose.
    per_patient = [n_sessions // n_patients] * n_patients
    for i in rng.sample(range(n_patients), n_sessions % n_patients):
        per_patient[i] += 1
    first_course = ids.take(TreatmentCourse, n_patients)
    courses, appointments, sessions, administrations = [], [], [], []
    session_rows: list[tuple[datetime, int, int, Decimal]] = []  # start, id, patient, mg
    sid = ids.take(TreatmentSession, n_sessions)
    aid = ids.take(Appointment, n_sessions + 20)
    adm = ids.take(Administration, n_sessions)
    for i, count in enumerate(per_patient):
        pid = first_patient + i
        weight = patients[i][8]
        span = timedelta(days=3.5 * count + 1)
        start_day = window_start + timedelta(
            days=rng.randrange(0, max(1, (now - DAY - span - window_start).days))
        )
        course_id = first_course + i
        courses.append(
            (
                course_id, clinic.pk, pid, "ketamine-iv-mood", 1, "ketamine-iv-mood",
                max(count, 1), start_day.date(), "completed" if count else "planned",
                dr.user_id, start_day - 2 * DAY, start_day - DAY,
            )
        )  # fmt: skip
        mg = (Decimal("0.5") * weight).quantize(Decimal("0.01"))
        for k in range(count):
            day = (start_day + timedelta(days=3.5 * k)).replace(hour=0, minute=0, second=0)
            start = day + timedelta(hours=14 + rng.randrange(0, 7), minutes=rng.choice((0, 30)))
            nurse = rng.choice(nurses)
            room = rng.choice(state.chairs)
            appointments.append(
                (
                    aid, clinic.pk, pid, "treatment", room, course_id, nurse.pk, start,
                    start + timedelta(hours=2), "completed",
                )
            )  # fmt: skip
            dose_start = start + timedelta(minutes=10)
            dose_end = dose_start + timedelta(minutes=40)
            left = dose_end + timedelta(minutes=60)
            sessions.append(
                (
                    sid, clinic.pk, pid, aid, course_id, room, "ketamine-iv-mood", 1,
                    "racemic_ketamine", "iv", "discharged", start, nurse.user_id, k == 0,
                    dose_start, dose_end, True, True, True, False, left, left,
                    nurse.user_id, left + timedelta(minutes=5),
                )
            )  # fmt: skip
            ml = (mg / 50).quantize(Decimal("0.001"))
            administrations.append(
                [
                    adm, sid, "racemic_ketamine", "Ketamine HCl injection 50 mg/mL", "", None,
                    "iv", mg, Decimal("0.500"), "actual", weight, Decimal("50"),
                    (ml * 60 / 40).quantize(Decimal("0.01")), "mL", ml, ml, Decimal("0"), mg,
                    nurse.user_id, dose_start, dose_start,
                ]
            )  # fmt: skip
            session_rows.append((start, sid, pid, ml))
            sid, aid, adm = sid + 1, aid + 1, adm + 1
    # Today's board: twenty booked treatments.
    today = now.replace(hour=15, minute=0, second=0)
    for k in range(20):
        i = rng.randrange(n_patients)
        start = today + timedelta(minutes=30 * (k // 6))
        appointments.append(
            (
                aid, clinic.pk, first_patient + i, "treatment", state.chairs[k % 6],
                first_course + i, state.staff["nurse"].pk, start, start + timedelta(hours=2),
                "booked",
            )
        )  # fmt: skip
        aid += 1
    write(tables["course"], courses)
    write(tables["appointment"], appointments)

    # The ledger: a lot received when the last runs low; one administration per session.
    session_rows.sort()
    lots, entries = [], []
    balance, lot_id, prev, lot_number = Decimal(0), 0, GENESIS, ""
    eid = 0

    def entry_pk(k: int) -> int:
        return stride[LedgerEntry] + k * sizes.clinics + n

    lot_of: dict[int, tuple[int, str]] = {}
    for start, session_id, pid, ml in session_rows:
        if balance < ml:
            lot_id = ids.take(Lot)
            lot_number = f"K{n:03d}{len(lots):05d}"
            lots.append(
                (
                    lot_id, clinic.pk, state.product, lot_number,
                    (start + timedelta(days=700)).date(), "Network Pharma Supply",
                )
            )  # fmt: skip
            balance, prev = Decimal(0), GENESIS
            received = Decimal("1000.000")
            balance += received
            eid = _entry(
                entries, state, eid, entry_pk(eid), lot_id, "receive", received, received, balance,
                state.staff["admin"].user_id, start - DAY, prev,
                supplier_name="Network Pharma Supply", supplier_address="1 Supply Way",
                supplier_dea_number="RN1234563", invoice=f"INV-{lot_number}", containers=100,
            )  # fmt: skip
            prev = entries[-1][-1]
        balance -= ml
        eid = _entry(
            entries, state, eid, entry_pk(eid), lot_id, "administer", ml, -ml, balance,
            rng.choice(nurses).user_id, start + timedelta(minutes=10), prev,
            patient_id=pid, session_ref=str(session_id),
        )  # fmt: skip
        prev = entries[-1][-1]
        lot_of[session_id] = (lot_id, lot_number)
    write(tables["lot"], lots)
    for row in administrations:
        row[4], row[5] = lot_of[row[1]][1], lot_of[row[1]][0]
    write(tables["session"], sessions)
    bars["sessions"].add(len(sessions))
    write(tables["administration"], (tuple(r) for r in administrations))
    bars["ledger"].add(write(tables["ledger"], (tuple(e[:-1]) + (e[-1],) for e in entries)))

    # Vital signs: before the dose, then during it.
    def vitals() -> Iterator[tuple[Any, ...]]:
        vid = ids.take(VitalReading, n_vitals)
        for s in range(n_vitals):
            session = sessions[s % len(sessions)] if sessions else None
            if session is None:
                return
            k = s // len(sessions)
            at = session[11] + timedelta(minutes=5 + 15 * k)
            systolic = rng.randrange(108, 150) + (12 if k else 0)
            yield (
                vid + s, session[0], at, "during" if k else "pre_dose", systolic,
                rng.randrange(62, 92), rng.randrange(56, 98), rng.randrange(95, 101),
                rng.randrange(11, 19), session[12], at,
            )  # fmt: skip

    bars["vitals"].add(write(tables["vital"], vitals()))

    # Questionnaires: PHQ-9 and GAD-7 in turn, improving over a course.
    def responses() -> Iterator[tuple[Any, ...]]:
        rid = ids.take(Response, n_responses)
        for r in range(n_responses):
            i = r % n_patients
            k = r // n_patients
            code = "phq9" if k % 2 == 0 else "gad7"
            instrument = instruments[code]
            level = max(0.0, 2.2 - 0.25 * k + rng.uniform(-0.6, 0.6))
            answers = [min(3, max(0, round(rng.gauss(level, 0.7)))) for _ in instrument.items]
            result = score(instrument, answers)
            at = window_start + timedelta(days=rng.randrange(0, 700), hours=13)
            yield (
                rid + r, clinic.pk, first_patient + i, code, instrument.version,
                json.dumps(answers), result.total, result.severity or "",
                result.severity_label or "", json.dumps(dict(result.subscores)),
                result.prorated, json.dumps(list(result.missing_items)),
                result.provisional_diagnosis, result.above_cutoff, at, dr.user_id,
                "clinician", at,
            )  # fmt: skip

    bars["responses"].add(write(tables["response"], responses()))

    # The audit trail: the ledger's vouching events and chart reads, in time order.
    n_audit = sizes.share(sizes.audit, n)
    events: list[tuple[datetime, int, str, int | None, str, str, dict[str, Any]]] = []
    for e in entries:
        values = dict(zip(["id", *ledger_chain.HASHED, "prev_hash"], e[:-1], strict=True))
        events.append(
            (
                values["recorded_at"], values["recorded_by_id"], "create", values["patient_id"],
                "inventory.ledgerentry", str(values["id"]),
                {
                    "kind": values["kind"], "lot": values["lot_id"],
                    "location": values["location_id"], "hash": e[-1],
                },
            )
        )  # fmt: skip
    users = [(m.user_id, m.user.username, m.role) for m in state.staff.values()]
    span = int((now - window_start).total_seconds())
    for _ in range(max(0, n_audit - len(events))):
        pid = first_patient + rng.randrange(n_patients)
        at = window_start + timedelta(
            seconds=rng.randrange(span), microseconds=rng.randrange(10**6)
        )
        events.append((at, -1, "view", pid, "patients.patient", str(pid), {"view": "chart"}))
    events.sort(key=lambda e: e[0])
    _audit(
        state, events, users, ids, tables, bars["audit"], rng, sealed=sealed,
        first_event=stride[AuditEvent] + n, step=sizes.clinics,
    )  # fmt: skip


def _entry(
    entries: list[list[Any]],
    state: ClinicState,
    eid: int,
    pk: int,
    lot: int,
    kind: str,
    quantity: Decimal,
    delta: Decimal,
    balance: Decimal,
    user: int,
    at: datetime,
    prev: str,
    **extra: Any,
) -> int:
    values = {
        "clinic_id": state.clinic.pk, "location_id": state.location,
        "product_id": state.product, "lot_id": lot, "kind": kind, "quantity": quantity,
        "mg": (quantity * 50).quantize(ledger_chain.QUANT), "delta": delta,
        "balance_after": balance, "recorded_by_id": user, "recorded_at": at, "occurred_at": at,
        "corrects_id": None, "counterpart_id": None, "supplier_name": "", "supplier_address": "",
        "supplier_dea_number": "", "invoice": "", "containers": None, "patient_id": None,
        "session_ref": "", "manner": "", "witness_requested_id": None, "reason": "",
    }  # fmt: skip
    values.update(extra)
    digest = ledger_chain.entry_hash(values, prev)
    entries.append([pk, *(values[c] for c in ledger_chain.HASHED), prev, digest])
    return eid + 1


def _audit(
    state: ClinicState,
    events: list[tuple[datetime, int, str, int | None, str, str, dict[str, Any]]],
    users: list[tuple[int, str, str]],
    ids: Ids,
    tables: dict[str, Table],
    bar: Progress,
    rng: random.Random,
    *,
    sealed: bool = True,
    first_event: int,
    step: int,
) -> None:
    """Number, link, digest and seal the clinic's events as the application would
    (`sealed=False`: leave them for seal_pending, as the worker finds them)."""
    clinic = state.clinic.pk
    chain_row = AuditChain.objects.filter(chain=clinic).first()
    seq, link = (chain_row.seq, chain_row.head) if chain_row else (0, GENESIS)
    last_seal = AuditSeal.objects.filter(chain=clinic).order_by("-seq").first()
    seal_seq, seal_prev = (last_seal.seq, last_seal.hash) if last_seal else (0, GENESIS)
    names = {u: (name, role) for u, name, role in users}
    seals: list[tuple[Any, ...]] = []
    anchor_lines: list[str] = []
    sha = hashlib.sha256
    dumps = json.dumps

    def rows() -> Iterator[tuple[Any, ...]]:
        nonlocal seq, link, seal_seq, seal_prev
        batch: list[str] = []
        batch_first = first_event
        seal_id = ids.take(AuditSeal, (len(events) + SEAL_SIZE - 1) // SEAL_SIZE)
        for k, (at, user, action, pid, otype, oid, detail) in enumerate(events):
            if user < 0:
                user = users[rng.randrange(len(users))][0]
            username, role = names[user]
            event_id = uuid.UUID(int=rng.getrandbits(128), version=4)
            ip = f"10.{clinic % 250}.{user % 250}.{(k % 200) + 20}"
            content = {
                "event_id": str(event_id), "at": at.isoformat(), "clinic": clinic,
                "user": user, "username": username, "role": role, "patient": pid,
                "action": action, "object_type": otype, "object_id": oid, "ip": ip,
                "via_token": None, "detail": detail,
            }  # fmt: skip
            digest = sha(
                dumps(content, sort_keys=True, separators=(",", ":"), default=str).encode()
            ).hexdigest()
            seq += 1
            link = sha((link + digest).encode()).hexdigest()
            event_pk = first_event + k * step
            if not batch:
                batch_first = event_pk
            batch.append(digest)
            yield (
                event_pk, event_id, at, clinic, user, username, role, pid, action, otype, oid,
                ip, None, dumps(detail), digest, seq, link, seal_id if sealed else None,
            )  # fmt: skip
            if len(batch) == SEAL_SIZE or k == len(events) - 1:
                seal_seq += 1
                root = merkle_root(batch)
                digest_seal = seal_hash(
                    chain=clinic, seq=seal_seq, first=batch_first, last=event_pk,
                    count=len(batch), root=root, prev=seal_prev,
                )  # fmt: skip
                seals.append(
                    (
                        seal_id, clinic, clinic, seal_seq, batch_first, event_pk, len(batch),
                        root, seal_prev, digest_seal, at,
                    )
                )  # fmt: skip
                anchor_lines.append(f"{clinic} {seal_seq} {digest_seal}")
                seal_prev, seal_id, batch = digest_seal, seal_id + 1, []
            if k % 5000 == 4999:
                bar.add(5000)
        bar.add(len(events) % 5000)

    # Seals first: each event names its seal (a foreign key checked at commit on
    # PostgreSQL, at once on SQLite), so the seal rows are built, then written first.
    event_rows = list(rows())
    if sealed:
        write(tables["seal"], seals)
    write(tables["audit"], event_rows)
    del event_rows
    _set_chain(clinic, seq, link)
    if sealed:
        transaction.on_commit(lambda: [anchor.write_line(line) for line in anchor_lines[-1:]])


def _set_chain(chain: int, seq: int, head: str) -> None:
    """Move the chain's head past the events written (the guard trigger allows one step)."""
    if not AuditChain.objects.filter(chain=chain).exists():
        AuditChain.objects.create(chain=chain, seq=seq, head=head)
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
            AuditChain.objects.filter(chain=chain).update(seq=seq, head=head)
            cursor.execute("SET LOCAL session_replication_role = origin")
        else:
            from importlib import import_module

            ops = import_module("ketaclinic.audit.migrations.0003_event_numbers_ops")
            cursor.execute("DROP TRIGGER audit_chain_no_update")
            AuditChain.objects.filter(chain=chain).update(seq=seq, head=head)
            create = [s for s in ops.SQLITE_UP if "audit_chain_no_update" in s]
            cursor.execute(create[0])
