"""Backups that prove themselves, and restores that say so in the audit trail.

A backup is one tar file:

- `database.sqlite3` (SQLite's online backup API: a consistent copy while the clinic
  works) or `database.pgdump` (`pg_dump -Fc`);
- `audit-anchor.log`: the audit anchor as it was, to verify the restored log against;
- `manifest.json`: when, which database, rows per table, the audit chains' heads
  (events and seals), the ledger's heads per lot, and the SHA-256 of both files.

`restore` refuses a database that has any table, checks the checksums, loads the copy,
then runs verify_audit (against the backup's anchor) and verify_ledger and compares
every table's row count with the manifest. The restore itself becomes an audit event,
and the live anchor gets a `restore` line before the restored chains' heads: the jump
back in time is written down, never silent.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connection
from django.utils import timezone

from ketaclinic.audit import anchor
from ketaclinic.audit.models import AuditChain
from ketaclinic.audit.services import chain_heads, record_system, seal_pending, verify
from ketaclinic.inventory.models import LedgerEntry
from ketaclinic.inventory.services import verify_ledger

MANIFEST = "manifest.json"
ANCHOR = "audit-anchor.log"
FORMAT = 1


class BackupError(Exception):
    """The backup file or the target database is not fit for a restore."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def table_counts() -> dict[str, int]:
    """Rows per table of every model (the cache table is not the clinic's data)."""
    counts = {}
    for model in apps.get_models(include_auto_created=True):
        if model._meta.managed and not model._meta.proxy:
            counts[model._meta.db_table] = model._base_manager.count()
    return dict(sorted(counts.items()))


def heads() -> dict[str, Any]:
    """The audit chains' heads (events and seals) and the ledger's newest hash per lot."""
    ledger: dict[str, str] = {}
    for lot_id, digest in LedgerEntry.objects.order_by("lot_id", "id").values_list(
        "lot_id", "hash"
    ):
        ledger[str(lot_id)] = digest
    return {
        "audit_events": {str(c.chain): [c.seq, c.head] for c in AuditChain.objects.all()},
        "audit_seals": {str(k): list(v) for k, v in chain_heads().items()},
        "ledger": ledger,
    }


def _dump(target: Path) -> str:
    """Copy the live database into `target`; returns the file's name inside the backup."""
    db = settings.DATABASES["default"]
    if connection.vendor == "sqlite":
        source = sqlite3.connect(str(db["NAME"]))
        copy = sqlite3.connect(str(target))
        try:
            with copy:
                source.backup(copy)
        finally:
            copy.close()
            source.close()
        return "database.sqlite3"
    _pg_tool(db, "pg_dump", "-Fc", "--no-owner", "-f", str(target), "-d", db["NAME"])
    return "database.pgdump"


def _pg_tool(db: Mapping[str, Any], tool: str, *args: str) -> None:
    executable = shutil.which(tool)
    if executable is None:
        raise BackupError(f"{tool} is not installed (Debian: apt-get install postgresql-client)")
    # No shell; the arguments are our own and the database's name from DATABASE_URL.
    result = subprocess.run(  # noqa: S603
        [executable, *args], env=_pg_env(db), capture_output=True, text=True, check=False
    )
    if result.returncode:
        raise BackupError(f"{tool} failed: {result.stderr.strip()[:500]}")


def _pg_env(db: Mapping[str, Any]) -> dict[str, str]:
    env = dict(os.environ)
    for key, name in (("HOST", "PGHOST"), ("PORT", "PGPORT"), ("USER", "PGUSER")):
        if db.get(key):
            env[name] = str(db[key])
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = str(db["PASSWORD"])
    return env


def backup(out: Path) -> dict[str, Any]:
    """Write a backup of the database to `out`; returns its manifest."""
    record_system("backup", detail={"file": out.name})
    seal_pending()  # the backup's anchor then covers every event in it
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "created_at": timezone.now().isoformat(),
        "vendor": connection.vendor,
        "tables": table_counts(),
        "heads": heads(),
    }
    with tempfile.TemporaryDirectory(prefix="ketaclinic-backup-") as work:
        folder = Path(work)
        dump = folder / "database"
        manifest["database"] = _dump(dump)
        dump.rename(folder / manifest["database"])
        anchor_copy = folder / ANCHOR
        local = Path(settings.AUDIT_ANCHOR)
        if local.exists():
            shutil.copyfile(local, anchor_copy)
        else:
            anchor_copy.write_text("")
        manifest["sha256"] = {
            manifest["database"]: _sha256(folder / manifest["database"]),
            ANCHOR: _sha256(anchor_copy),
        }
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".partial")
        with tarfile.open(partial, "w") as archive:
            data = json.dumps(manifest, indent=2, sort_keys=True).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
            archive.add(folder / manifest["database"], arcname=manifest["database"])
            archive.add(anchor_copy, arcname=ANCHOR)
        partial.replace(out)  # a crash mid-write never leaves a file that looks whole
    return manifest


@dataclass(frozen=True)
class Restored:
    manifest: dict[str, Any]
    anchor: Path


def _extract(backup_file: Path, into: Path) -> dict[str, Any]:
    with tarfile.open(backup_file, "r") as archive:
        archive.extractall(into, filter="data")
    manifest = json.loads((into / MANIFEST).read_text())
    if manifest.get("format") != FORMAT:
        raise BackupError("not a ketaclinic backup of a format this version reads")
    for name, expected in manifest["sha256"].items():
        if _sha256(into / name) != expected:
            raise BackupError(f"{name} does not match its checksum: the backup is damaged")
    return manifest


def _require_empty() -> None:
    tables = connection.introspection.table_names()
    if tables:
        raise BackupError(
            f"the target database is not empty ({len(tables)} tables): restore only into a "
            "new, empty database"
        )


def restore(backup_file: Path, keep_anchor: Path) -> Restored:
    """Load `backup_file` into the empty database and prove it; the anchor goes to `keep_anchor`."""
    with tempfile.TemporaryDirectory(prefix="ketaclinic-restore-") as work:
        folder = Path(work)
        manifest = _extract(backup_file, folder)
        if manifest["vendor"] != connection.vendor:
            raise BackupError(
                f"a {manifest['vendor']} backup cannot be restored into {connection.vendor}"
            )
        _require_empty()
        _load(folder / manifest["database"])
        keep_anchor.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / ANCHOR, keep_anchor)
    problems = [str(p) for p in verify(keep_anchor)] + [str(p) for p in verify_ledger()]
    if table_counts() != manifest["tables"]:
        problems.append("row counts differ from the backup's manifest")
    if problems:
        raise BackupError(f"the restored database does not prove itself: {problems[0]}")
    _announce(manifest)
    return Restored(manifest=manifest, anchor=keep_anchor)


def _load(dump: Path) -> None:
    db = settings.DATABASES["default"]
    if connection.vendor == "sqlite":
        connection.close()
        source = sqlite3.connect(str(dump))
        target = sqlite3.connect(str(db["NAME"]))
        try:
            with target:
                source.backup(target)
        finally:
            target.close()
            source.close()
        return
    _pg_tool(db, "pg_restore", "--no-owner", "--exit-on-error", "-d", db["NAME"], str(dump))


def _announce(manifest: dict[str, Any]) -> None:
    """Write the restore into the live anchor and the audit log: never a silent rewrite."""
    created = manifest["created_at"]
    checksum = manifest["sha256"][manifest["database"]]
    anchor.write_line(f"restore {timezone.now().isoformat()} from-backup {created} {checksum}")
    for chain, (seq, digest) in sorted(chain_heads().items()):
        anchor.write_line(f"{chain} {seq} {digest}")
    record_system("restore", detail={"backup_created_at": created, "sha256": checksum})
    seal_pending()


def scheduled_backup(now: datetime, folder: Path, keep: int) -> Path:
    """Today's backup in `folder`, keeping the newest `keep` (older ones are deleted)."""
    out = folder / f"ketaclinic-{now:%Y%m%d-%H%M%S}.tar"
    backup(out)
    for old in sorted(folder.glob("ketaclinic-*.tar"))[:-keep]:
        old.unlink()
    return out
