"""Writing rows straight into tables (COPY or executemany), and the tables' columns."""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from django.db import connection, models
from django.db.models import JSONField

from ketaclinic.audit.models import AuditEvent, AuditSeal
from ketaclinic.inventory import ledger_chain
from ketaclinic.inventory.models import LedgerEntry, Lot
from ketaclinic.measures.models import Response
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling.models import Appointment, TreatmentCourse
from ketaclinic.treatment.models import Administration, TreatmentSession, VitalReading


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
        rest: list[str] = []
        values: list[Any] = []
        for f in model._meta.concrete_fields:
            assert f.column is not None  # a concrete field is one with a column
            if f.column in given:
                continue
            value: Any
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
        self.columns: list[str] = [*columns, *rest]
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
    return (model._default_manager.aggregate(m=models.Max("id"))["m"] or 0) + 1


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
                "first_seq",
                "last_seq",
                "count",
                "merkle_root",
                "prev_hash",
                "hash",
                "sealed_at",
            ],
            now,
        ),  # fmt: skip
    }
