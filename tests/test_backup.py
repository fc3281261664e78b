"""backup -> restore round-trips on SQLite and PostgreSQL, and the restored copy proves itself.

Each step runs `python -m ketaclinic ...` as an operator would, against databases of its
own (PostgreSQL only when DATABASE_URL points at one).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import pytest

POPULATE = """
import django; django.setup()
from datetime import date
from decimal import Decimal
from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.services import add_clinic, add_staff
from ketaclinic.audit.services import record, seal_pending
from ketaclinic.inventory import services
from ketaclinic.patients.models import Patient
clinic = add_clinic(slug="harbor", name="Harbor Light")
nurse = add_staff(username="okafor", clinic=clinic, role="nurse", check_password=False)
actor = Actor(user=nurse.user, membership=nurse, ip="127.0.0.1")
patient = Patient.objects.create(clinic=clinic, mrn="A1", given_name="Maria",
    family_name="Garcia", birth_date=date(1984, 3, 7), sex_at_birth="female")
for _ in range(3):
    record(actor, "view", patient_id=patient.pk, obj=patient)
vial = services.create_product(actor=actor, name="Ketamine 50 mg/mL", ndc="12345-0050-10",
    substance="ketamine", unit="mL", mg_per_unit=Decimal("50"), units_per_container=Decimal("10"))
services.receive(actor=actor, product=vial, lot_number="K1", expiry=date(2030, 1, 1),
    containers=3, supplier_name="Depot", supplier_address="1 Road", invoice="I-1",
    supplier_dea_number="{dea}")
seal_pending()
record(actor, "view", patient_id=patient.pk, obj=patient)  # one left unsealed
"""


def _databases() -> list[str]:
    vendors = ["sqlite"]
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        vendors.append("postgresql")
    return vendors


class Site:
    """One installation: its database, var/ directory and anchor file."""

    def __init__(self, root: Path, vendor: str, name: str) -> None:
        self.var = root / name
        self.var.mkdir()
        self.anchor = self.var / "audit-anchor.log"
        if vendor == "sqlite":
            self.url = f"sqlite:///{self.var / 'ketaclinic.sqlite3'}"
            self.pg_name = None
        else:
            base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
            self.pg_name = f"kc_rt_{name}_{uuid.uuid4().hex[:8]}"
            self._admin(f'CREATE DATABASE "{self.pg_name}"')
            self.url = f"{base}/{self.pg_name}"

    def _admin(self, sql: str) -> None:
        import psycopg

        base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(sql)

    def drop(self) -> None:
        if self.pg_name:
            self._admin(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=self.url,
            KETACLINIC_VAR_DIR=str(self.var),
            KETACLINIC_AUDIT_ANCHOR=str(self.anchor),
            KETACLINIC_DEBUG="1",
            DJANGO_SETTINGS_MODULE="ketaclinic.settings",
        )
        return env

    def run(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, *args], env=self.env(), capture_output=True, text=True, timeout=600
        )
        if ok:
            assert result.returncode == 0, result.stderr[-2000:]
        return result

    def manage(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("-m", "ketaclinic", *args, ok=ok)

    def migrate(self, migrated_sqlite: Path) -> None:
        """`migrate`; on SQLite, a copy of a file migrated once (migrating takes a minute)."""
        if self.pg_name:
            self.manage("migrate", "-v0")
        else:
            shutil.copy(migrated_sqlite, self.var / "ketaclinic.sqlite3")


@pytest.fixture(scope="module")
def migrated_sqlite(tmp_path_factory) -> Path:
    template = Site(tmp_path_factory.mktemp("template"), "sqlite", "template")
    template.manage("migrate", "-v0")
    return template.var / "ketaclinic.sqlite3"


@pytest.fixture
def sites(tmp_path, request):
    made: list[Site] = []

    def make(vendor: str, name: str) -> Site:
        site = Site(tmp_path, vendor, name)
        made.append(site)
        return site

    yield make
    for site in made:
        site.drop()


@pytest.mark.parametrize("vendor", _databases())
def test_backup_and_restore_round_trip_and_prove_themselves(
    sites, migrated_sqlite, tmp_path, vendor
):
    from ketaclinic.clinical.dea import with_check_digit

    live = sites(vendor, "live")
    live.migrate(migrated_sqlite)
    live.run("-c", POPULATE.replace("{dea}", with_check_digit("RH123456")))
    out = tmp_path / "backup.tar"
    live.manage("backup", "--out", str(out))

    with tarfile.open(out) as archive:
        names = sorted(archive.getnames())
        manifest = json.load(archive.extractfile("manifest.json"))
    database = "database.sqlite3" if vendor == "sqlite" else "database.pgdump"
    assert names == sorted(["manifest.json", database, "audit-anchor.log"])
    assert manifest["tables"]["patients_patient"] == 1
    assert manifest["tables"]["inventory_ledgerentry"] == 1
    assert set(manifest["sha256"]) == {database, "audit-anchor.log"}
    assert len(manifest["heads"]["ledger"]) == 1
    # Everything in the backup was sealed first, so its anchor vouches for all of it.
    assert manifest["heads"]["audit_events"]

    fresh = sites(vendor, "fresh")
    restored = fresh.manage("restore", str(out), "--anchor-out", str(fresh.var / "backup.anchor"))
    assert "audit log and drug ledger verified" in restored.stdout
    fresh.manage("verify_audit", "--anchor", str(fresh.var / "backup.anchor"))
    fresh.manage("verify_ledger")
    # The live anchor of the new site says a restore happened, then goes on from the backup.
    lines = fresh.anchor.read_text().splitlines()
    assert lines[0].startswith("restore ")
    assert manifest["sha256"][database] in lines[0]
    assert fresh.manage("verify_audit").returncode == 0
    events = fresh.run(
        "-c",
        "import django; django.setup();"
        "from ketaclinic.audit.models import AuditEvent;"
        "print(sorted(set(AuditEvent.objects.values_list('action', flat=True))))",
    )
    assert "'restore'" in events.stdout and "'backup'" in events.stdout

    # Only ever into an empty database.
    again = fresh.manage("restore", str(out), ok=False)
    assert again.returncode != 0 and "not empty" in again.stderr


def test_a_damaged_backup_is_refused(sites, migrated_sqlite, tmp_path):
    live = sites("sqlite", "live")
    live.migrate(migrated_sqlite)
    out = tmp_path / "backup.tar"
    live.manage("backup", "--out", str(out))
    damaged = tmp_path / "damaged.tar"
    with tarfile.open(out) as source, tarfile.open(damaged, "w") as target:
        for member in source.getmembers():
            data = source.extractfile(member).read()
            if member.name == "database.sqlite3":
                data = data[:-100] + bytes(100)
            import io

            member.size = len(data)
            target.addfile(member, io.BytesIO(data))
    fresh = sites("sqlite", "fresh")
    result = fresh.manage("restore", str(damaged), ok=False)
    assert result.returncode != 0 and "checksum" in result.stderr
    assert not (fresh.var / "ketaclinic.sqlite3").exists() or "patients_patient" not in (
        fresh.run(
            "-c",
            "import django; django.setup(); from django.db import connection;"
            "print(connection.introspection.table_names())",
        ).stdout
    )


@pytest.mark.django_db
def test_the_worker_backs_up_once_a_day_and_keeps_the_newest(settings, tmp_path, monkeypatch):
    from datetime import UTC, datetime, timedelta

    from ketaclinic.worker import backup, jobs

    monkeypatch.setattr(backup, "backup", lambda out: out.write_text("backup"))
    settings.BACKUP_DIR, settings.BACKUP_KEEP, settings.BACKUP_HOUR = str(tmp_path), 3, 1
    day = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)
    assert jobs.daily_backup(day) == 0  # before the hour
    for n in range(5):
        morning = day + timedelta(days=n, hours=1)
        assert jobs.daily_backup(morning) == 1
        assert jobs.daily_backup(morning + timedelta(hours=2)) == 0  # once a day
    kept = sorted(p.name for p in tmp_path.glob("ketaclinic-*.tar"))
    assert kept == [
        "ketaclinic-20261203-013000.tar",
        "ketaclinic-20261204-013000.tar",
        "ketaclinic-20261205-013000.tar",
    ]
