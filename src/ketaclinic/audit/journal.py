"""Audit events off the request's database path: a local append-only journal, drained in batches.

Every read of patient data is audited. Writing each event into the database made every
page a database write, and on SQLite every reader then queued for the one write lock. So
by default (`AUDIT_JOURNAL`) an event is appended as one JSON line to a file of this
process's own (`AUDIT_JOURNAL_DIR/<host>-<pid>-<ns>.jsonl`) and fsync'd before the
request goes on: a response that was sent has its event on disk, and `kill -9` of the
server loses nothing that was acknowledged.

Group commit: threads append under one lock (a write() each, microseconds), then wait for
an fsync that covers their line; one thread's fsync covers every line written before it
started, so under load many events share one flush.

An event recorded inside a transaction is appended when (and only if) the transaction
commits, so a refused write leaves no event, as before. Between the commit and the
append there is no I/O of the database's, only this process's own write() call.

The worker (`drain`, each pass, before sealing) moves complete lines into the database in
batches of a few thousand, numbering and linking each clinic's chain there exactly as a
synchronous event would be (audit.services._NEXT_LINK, one chain row update per event,
inside the batch's one transaction), so the seals and `verify_audit` see the same rows.
A line's digest was computed when it was written: a line altered in the file before it
was drained fails `verify_audit` like an altered row. A file whose writer is gone (its
flock is free) is deleted once drained; a drained offset is kept beside each live file,
and event ids already stored are skipped, so draining twice inserts nothing twice.

Every host that serves requests keeps its own journal directory: run the worker (or
`seal_audit`) on each, or point them at one shared directory.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

log = logging.getLogger(__name__)

SUFFIX = ".jsonl"
# A process starts a new file past this size; the drained old one is then deleted.
ROTATE_BYTES = 16 * 2**20
FIELDS = (
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
)


def enabled() -> bool:
    return bool(getattr(settings, "AUDIT_JOURNAL", False))


def directory() -> Path:
    return Path(settings.AUDIT_JOURNAL_DIR)


def line_for(event: Any) -> bytes:
    """One event as one JSON line (the fields its digest covers, and the digest)."""
    row = {name: getattr(event, name) for name in FIELDS}
    row["event_id"] = str(event.event_id)
    row["at"] = event.at.isoformat()
    return (json.dumps(row, sort_keys=True, separators=(",", ":")) + "\n").encode()


class Journal:
    """This process's journal file: append, then wait until an fsync covers the line."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()  # file, offsets
        self._flush = threading.Lock()  # one fsync at a time; the others wait and are covered
        self._fd: int | None = None
        self._pid = 0
        self._generation = 0
        self._written = 0
        self._synced = (0, 0)  # (generation, bytes) known to be on disk

    def _open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{socket.gethostname()}-{os.getpid()}-{time.time_ns()}{SUFFIX}"
        fd = os.open(
            self.folder / name, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600
        )
        # Held for as long as this process writes the file: the drainer deletes only
        # files whose lock is free (their writer exited, or moved on to a new file).
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        dir_fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the new file's name is durable before any event relies on it
        finally:
            os.close(dir_fd)
        self._fd, self._pid, self._written = fd, os.getpid(), 0
        self._generation += 1

    def _rotate(self) -> None:
        assert self._fd is not None
        os.fsync(self._fd)
        old = self._fd
        self._open()
        os.close(old)  # releases its lock: the drainer may now finish and delete it

    def append(self, data: bytes) -> None:
        """Write `data` and return once it is on disk."""
        with self._lock:
            if self._fd is None or self._pid != os.getpid():  # first use, or a forked child
                self._open()
            elif self._written >= ROTATE_BYTES:
                self._rotate()
            assert self._fd is not None
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
            self._written += len(data)
            mine = (self._generation, self._written)
        waiting = getattr(_deferred, "marks", None)
        if waiting is None:
            self._wait_for_disk(mine)
        else:
            waiting.append((self, mine))

    def _wait_for_disk(self, mine: tuple[int, int]) -> None:
        if self._synced >= mine:
            return
        with self._flush:
            if self._synced >= mine:  # the fsync before ours covered this line
                return
            with self._lock:
                fd, upto = self._fd, (self._generation, self._written)
            if upto[0] != mine[0]:
                return  # rotation fsync'd the older file whole before closing it
            assert fd is not None
            os.fdatasync(fd)
            self._synced = max(self._synced, upto)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


_deferred = threading.local()


@contextmanager
def on_disk_at_exit() -> Iterator[None]:
    """Events appended inside are written at once but waited for on disk only at the exit.

    For a writer that holds a lock of its own across its commit (the SQLite vitals path):
    the fsync wait then happens after that lock is released, so the next writer does not
    queue behind this one's flush. The caller still answers only after the exit.
    """
    outer = getattr(_deferred, "marks", None)
    marks: list[tuple[Journal, tuple[int, int]]] = []
    _deferred.marks = marks
    try:
        yield
    finally:
        _deferred.marks = outer
        for journal, mine in marks:
            journal._wait_for_disk(mine)


_journals: dict[Path, Journal] = {}
_journals_lock = threading.Lock()


def _journal() -> Journal:
    folder = directory()
    with _journals_lock:
        found = _journals.get(folder)
        if found is None:
            found = _journals[folder] = Journal(folder)
        return found


def submit(event: Any) -> None:
    """Journal `event`: now, or when the surrounding transaction commits."""
    data = line_for(event)
    journal = _journal()
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(lambda: journal.append(data))
    else:
        journal.append(data)


# --- draining into the database -------------------------------------------------------------


def _event_from(row: dict[str, Any]) -> Any:
    from ketaclinic.audit.models import AuditEvent

    fields = {name: row.get(name) for name in FIELDS}
    fields["event_id"] = uuid.UUID(row["event_id"])
    fields["at"] = datetime.fromisoformat(row["at"])
    fields["detail"] = fields["detail"] or {}
    for name in ("username", "role", "object_type", "object_id"):
        fields[name] = fields[name] or ""
    return AuditEvent(**fields)


def _offset_path(path: Path) -> Path:
    return path.with_name(path.name + ".drained")


def _drained_offset(path: Path) -> int:
    try:
        return int(_offset_path(path).read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def _store_offset(path: Path, offset: int) -> None:
    target = _offset_path(path)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_text(str(offset))
    os.replace(temporary, target)


def _insert(events: list[Any]) -> None:
    """Number, link and insert one batch (journal order within each clinic's chain)."""
    from ketaclinic.audit.models import AuditEvent
    from ketaclinic.audit.services import number_in_chain

    with transaction.atomic():
        stored = set(
            AuditEvent.objects.filter(event_id__in=[e.event_id for e in events]).values_list(
                "event_id", flat=True
            )
        )
        fresh = [e for e in events if e.event_id not in stored]
        by_chain: dict[int, list[Any]] = {}
        for event in fresh:
            by_chain.setdefault(event.clinic_id or 0, []).append(event)
        for chain in sorted(by_chain):  # one lock order for every drainer
            for event in by_chain[chain]:
                number_in_chain(event)
        AuditEvent.objects.bulk_create(fresh, batch_size=500)


def drain_file(path: Path, batch_size: int = 2000) -> int:
    """Move the complete lines of one journal file into the database; returns events moved."""
    moved = 0
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            writer_gone = True
        except BlockingIOError:
            writer_gone = False
        offset = _drained_offset(path)
        with os.fdopen(os.dup(fd), "rb") as handle:
            handle.seek(offset)
            batch: list[Any] = []
            position = offset
            for raw in handle:
                if not raw.endswith(b"\n"):
                    # A line cut short: its writer died inside write(), before answering.
                    if writer_gone:
                        log.error("audit journal: discarded a torn last line of %s", path.name)
                    break
                position += len(raw)
                try:
                    batch.append(_event_from(json.loads(raw)))
                except (ValueError, KeyError, TypeError):
                    # Not a line this code wrote: kept in the log's error stream by place only
                    # (a line may hold patient ids), and the file's other events go on.
                    log.error(
                        "audit journal: unreadable line at byte %d of %s", position, path.name
                    )
                    from ketaclinic.audit.services import record_system

                    record_system(  # the audit trail itself says an event was unreadable
                        "audit_journal_unreadable", detail={"file": path.name, "byte": position}
                    )
                if len(batch) >= batch_size:
                    _insert(batch)
                    _store_offset(path, position)
                    moved, batch = moved + len(batch), []
            if batch:
                _insert(batch)
                _store_offset(path, position)
                moved += len(batch)
    finally:
        os.close(fd)
    if writer_gone:
        path.unlink(missing_ok=True)
        _offset_path(path).unlink(missing_ok=True)
    return moved


def drain(folder: Path | None = None, *, wait: bool = False) -> int:
    """Move every journal's complete lines into the database; returns events moved.

    One drainer at a time per directory (a lock file); with `wait`, wait for the other.
    """
    folder = folder or directory()
    if not folder.is_dir():
        return 0
    with open(folder / ".drain.lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            return 0
        return sum(drain_file(path) for path in sorted(folder.glob(f"*{SUFFIX}")))


def pending_files(folder: Path | None = None) -> list[Path]:
    folder = folder or directory()
    return sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []


def oldest_waiting(folder: Path | None = None) -> datetime | None:
    """When the oldest event not yet moved into the database was written (None: none waits)."""
    oldest = None
    for path in pending_files(folder):
        offset = _drained_offset(path)
        with path.open("rb") as handle:
            handle.seek(offset)
            first = handle.readline()
        if first.endswith(b"\n"):
            at = datetime.fromisoformat(json.loads(first)["at"])
            oldest = at if oldest is None or at < oldest else oldest
    return oldest
