"""FHIR Bulk Data 2.0.0 export: kick-off, the worker's run, status, files, expiry.

A kick-off stores an ExportJob; the worker (worker/jobs.py) runs queued jobs in a
thread of its own, so a long export never holds up audit sealing or reminders. Each
resource type streams to NDJSON files under KETACLINIC_EXPORT_DIR/<job>/ (a new file
past KETACLINIC_EXPORT_FILE_BYTES), one resource at a time, so memory stays flat
however large the clinic. The job's heartbeat says it is alive; a job whose heartbeat
stops (the worker was restarted) is taken up again from the first unfinished type, at
most MAX_ATTEMPTS times, then failed with a reason. Files are deleted when the job is
cancelled, fails, or expires (KETACLINIC_EXPORT_HOURS after it completed).
"""

from __future__ import annotations

import logging
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Clinic, Membership
from ketaclinic.audit.services import record
from ketaclinic.interop import groups, sources
from ketaclinic.interop.models import ExportJob, Status
from ketaclinic.interop.params import SearchError, parse_date
from ketaclinic.patients import restricted

__all__ = ["EXPORT_ACTION", "ExportJob", "Status"]

log = logging.getLogger(__name__)

EXPORT_ACTION = "fhir.export"
MAX_ATTEMPTS = 3
STALE_AFTER = timedelta(minutes=2)
HEARTBEAT_EVERY = 500  # resources between heartbeats (and cancellation checks)

# What each kind of export holds when `_type` is not given. The audit log is exported
# only when asked for by name. Practitioner, Organization and Location come with
# patient-level exports so that every reference in them resolves.
SUPPORT_TYPES = ["Organization", "Location", "Practitioner", "Questionnaire"]
PATIENT_TYPES = [
    name for name, kind in sources.TYPES.items() if kind.patient_linked and name != "AuditEvent"
]
DEFAULT_TYPES = SUPPORT_TYPES + PATIENT_TYPES
EXPORTABLE = set(DEFAULT_TYPES) | {"AuditEvent"}
OUTPUT_FORMATS = {"application/fhir+ndjson", "application/ndjson", "ndjson"}
KICK_OFF_PARAMS = {"_type", "_since", "_outputFormat"}


class ExportRequestError(ValueError):
    """A kick-off the server will not run: the message names the parameter."""


class Cancelled(Exception):
    pass


def export_dir() -> Path:
    return Path(settings.KETACLINIC_EXPORT_DIR)


# --- Kick-off, status, cancel ------------------------------------------------------------------


def start_export(
    *, actor: Actor, level: str, group_id: str, query: dict[str, list[str]], request_url: str
) -> ExportJob:
    """Store a queued export for the actor's clinic, or ExportRequestError naming the parameter."""
    actor.check(EXPORT_ACTION)
    for name in query:
        if name not in KICK_OFF_PARAMS:
            raise ExportRequestError(f"{name}: this server does not support that parameter")
    formats = query.get("_outputFormat", [])
    if any(f not in OUTPUT_FORMATS for f in formats):
        raise ExportRequestError(f"_outputFormat: only NDJSON is written ({formats[0]!r} asked)")
    types = DEFAULT_TYPES
    if query.get("_type"):
        types = [t for value in query["_type"] for t in value.split(",") if t]
        unknown = sorted(set(types) - EXPORTABLE)
        if unknown:
            raise ExportRequestError(f"_type: {', '.join(unknown)} cannot be exported here")
        types = list(dict.fromkeys(types))
    since = None
    if query.get("_since"):
        try:
            since = parse_date("_since", query["_since"][0], actor.clinic.tz).start
        except SearchError as exc:
            raise ExportRequestError(str(exc)) from None
        if since > timezone.now():
            raise ExportRequestError("_since: the time is in the future")
    with transaction.atomic():
        job = ExportJob.objects.create(
            clinic=actor.clinic,
            requested_by=actor.user,
            level=level,
            group_id=group_id,
            types=types,
            since=since,
            request_url=request_url,
            created_at=timezone.now(),
        )
        record(
            actor,
            "fhir_export",
            obj=job,
            detail={"fhir_action": "E", "level": level, "group": group_id, "types": types},
        )
    return job


def job_for(actor: Actor, job_id: str) -> ExportJob | None:
    """The actor's clinic's live export with this id (not cancelled or expired), else None."""
    try:
        pk = uuid.UUID(job_id)
    except ValueError:
        return None
    return (
        ExportJob.objects.filter(pk=pk, clinic=actor.clinic)
        .exclude(status__in=[Status.CANCELLED, Status.EXPIRED])
        .first()
    )


def cancel_export(*, actor: Actor, job: ExportJob) -> None:
    """Cancel a running export or delete a finished one's files (DELETE on the status URL)."""
    with transaction.atomic():
        ExportJob.objects.filter(pk=job.pk).update(status=Status.CANCELLED, current_type="")
        record(actor, "fhir_export_cancel", obj=job, detail={"fhir_action": "D"})
    # A running thread notices at its next heartbeat and stops; the files go now.
    shutil.rmtree(export_dir() / str(job.pk), ignore_errors=True)


def manifest(job: ExportJob, base: str) -> dict[str, Any]:
    """The Bulk Data 2.0.0 completion manifest."""
    output = [
        {"type": done["type"], "url": f"{base}$export-file/{job.pk}/{name}", "count": count}
        for done in job.done
        for name, count in done["files"]
    ]
    return {
        "transactionTime": job.created_at.isoformat(timespec="seconds"),
        "request": job.request_url,
        "requiresAccessToken": True,
        "output": output,
        "error": [],
    }


def file_path(job: ExportJob, name: str) -> Path | None:
    """The file of a completed export by its listed name (nothing else is served)."""
    if job.status != Status.COMPLETED:
        return None
    names = {n for done in job.done for n, _count in done["files"]}
    if name not in names:
        return None
    path = export_dir() / str(job.pk) / name
    return path if path.is_file() else None


# --- Writing -------------------------------------------------------------------------------


def resources_of(
    clinic: Clinic,
    type_name: str,
    *,
    since: datetime | None,
    patient_ids: list[int] | None,
    hidden: frozenset[int] = frozenset(),
) -> Iterator[dict[str, Any]]:
    """Every resource of one type for an export, streamed."""
    if type_name == "Questionnaire":
        yield from sources.questionnaires()
        return
    kind = sources.TYPES[type_name]
    search = sources.Search(kind, clinic, since=since, count=2**62)
    search.hidden = hidden
    if patient_ids is not None and kind.patient_linked:
        search.patient_ids = patient_ids
    with fast_timestamps():
        yield from sources.matches(search, ordered=False)


@contextmanager
def fast_timestamps() -> Iterator[None]:
    """PostgreSQL: read timestamps with datetime.fromisoformat (C) instead of psycopg's
    pattern match, for the cursors opened meanwhile on this connection. The values are
    the same datetimes (Django's own loader, subclassed: same time zone; any text the
    fast path does not take goes to it); parsing was the largest cost of an export's
    rows after the database itself (bench/fhir_export.py)."""
    if connection.vendor != "postgresql" or connection.connection is None:
        yield
        return
    from psycopg.postgres import types as pg_types
    from psycopg.pq import Format

    adapters = connection.connection.adapters
    oid = pg_types["timestamptz"].oid
    django_loader = adapters.get_loader(oid, Format.TEXT)
    if django_loader is None:
        yield
        return
    parse = datetime.fromisoformat

    class Fast(django_loader):  # type: ignore[misc, valid-type]
        def load(self, data: Any) -> Any:
            try:
                value = parse(bytes(data).decode())
            except ValueError:
                return super().load(data)
            return value.replace(tzinfo=getattr(self, "timezone", value.tzinfo))

    adapters.register_loader(oid, Fast)
    try:
        yield
    finally:
        adapters.register_loader(oid, django_loader)


def write_type(
    resources: Iterator[dict[str, Any]],
    folder: Path,
    type_name: str,
    *,
    limit_bytes: int,
    tick: Callable[[int], None],
) -> list[list[Any]]:
    """Stream resources to <Type>-<n>.ndjson files of at most limit_bytes; returns [name, count]s."""
    files: list[list[Any]] = []
    handle = None
    size = 0
    try:
        dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
        pending = bytearray()  # lines gathered, written a megabyte at a time
        for resource in resources:
            line = dumps(resource, option=newline)
            if handle is None or (size + len(line) > limit_bytes and files[-1][1] > 0):
                if handle is not None:
                    handle.write(pending)
                    pending.clear()
                    handle.close()
                name = f"{type_name}-{len(files) + 1}.ndjson"
                handle = (folder / name).open("wb")
                files.append([name, 0])
                size = 0
            pending += line
            if len(pending) >= 1 << 20:
                handle.write(pending)
                pending.clear()
            size += len(line)
            files[-1][1] += 1
            tick(1)
    finally:
        if handle is not None:
            handle.write(pending)
            handle.close()
    return files


def _patient_ids(job: ExportJob) -> list[int] | None:
    if job.level == "group":
        return groups.member_ids(job.clinic, job.group_id)
    return None


def run_job(job: ExportJob) -> None:
    """Write every unfinished type of a claimed (running) job; completes, cancels or fails it."""
    folder = export_dir() / str(job.pk)
    folder.mkdir(parents=True, exist_ok=True)
    limit = settings.KETACLINIC_EXPORT_FILE_BYTES
    written = sum(count for done in job.done for _n, count in done["files"])
    finished = {done["type"] for done in job.done}
    patient_ids = _patient_ids(job)
    # Restricted charts go into an export only for their care team (or an open break-glass).
    requester = (
        Membership.objects.filter(clinic=job.clinic, user_id=job.requested_by_id)
        .values_list("pk", flat=True)
        .first()
    )
    hidden = restricted.hidden_patient_ids_for(job.clinic_id, requester)
    state = {"written": written, "since_beat": 0}

    def tick(n: int) -> None:
        state["written"] += n
        state["since_beat"] += n
        if state["since_beat"] >= HEARTBEAT_EVERY:
            state["since_beat"] = 0
            _beat(job, state["written"])

    try:
        for type_name in job.types:
            if type_name in finished:
                continue
            for stale in folder.glob(f"{type_name}-*.ndjson"):
                stale.unlink()  # cut short by a crash: written again from the start
            _beat(job, state["written"], current=type_name)
            files = write_type(
                resources_of(
                    job.clinic,
                    type_name,
                    since=job.since,
                    patient_ids=patient_ids,
                    hidden=hidden,
                ),
                folder,
                type_name,
                limit_bytes=limit,
                tick=tick,
            )
            job.done = [*job.done, {"type": type_name, "files": files}]
            ExportJob.objects.filter(pk=job.pk, status=Status.RUNNING).update(
                done=job.done, written=state["written"]
            )
        now = timezone.now()
        updated = ExportJob.objects.filter(pk=job.pk, status=Status.RUNNING).update(
            status=Status.COMPLETED,
            current_type="",
            written=state["written"],
            finished_at=now,
            expires_at=now + timedelta(hours=settings.KETACLINIC_EXPORT_HOURS),
        )
        if not updated:
            raise Cancelled
    except Cancelled:
        shutil.rmtree(folder, ignore_errors=True)
    except Exception as exc:  # noqa: BLE001 - the job fails with a reason, the worker goes on
        # The type of the error only: a message could carry patient data.
        log.error("export %s failed (%s)", job.pk, type(exc).__name__)
        ExportJob.objects.filter(pk=job.pk).update(
            status=Status.FAILED, error=f"internal error ({type(exc).__name__})", current_type=""
        )
        shutil.rmtree(folder, ignore_errors=True)


def _beat(job: ExportJob, written: int, current: str | None = None) -> None:
    fields: dict[str, Any] = {"heartbeat_at": timezone.now(), "written": written}
    if current is not None:
        fields["current_type"] = current
    if not ExportJob.objects.filter(pk=job.pk, status=Status.RUNNING).update(**fields):
        raise Cancelled  # cancelled (or taken over) while we were writing


def claim_next() -> ExportJob | None:
    """Take the oldest queued job (an UPDATE that only one worker can win)."""
    for job in ExportJob.objects.filter(status=Status.QUEUED).order_by("created_at")[:5]:
        claimed = ExportJob.objects.filter(pk=job.pk, status=Status.QUEUED).update(
            status=Status.RUNNING, heartbeat_at=timezone.now(), attempts=job.attempts + 1
        )
        if claimed:
            job.refresh_from_db()
            return job
    return None


def recover_and_expire(now: datetime) -> int:
    """Requeue jobs whose worker died, fail those that died too often, expire old files."""
    changed = 0
    stale = ExportJob.objects.filter(status=Status.RUNNING, heartbeat_at__lt=now - STALE_AFTER)
    if _current_job is not None:  # this process's own job is alive
        stale = stale.exclude(pk=_current_job)
    for job in stale:
        if job.attempts >= MAX_ATTEMPTS:
            changed += ExportJob.objects.filter(pk=job.pk, status=Status.RUNNING).update(
                status=Status.FAILED,
                current_type="",
                error=f"the worker stopped {job.attempts} times during this export",
            )
            shutil.rmtree(export_dir() / str(job.pk), ignore_errors=True)
        else:
            changed += ExportJob.objects.filter(
                pk=job.pk, status=Status.RUNNING, heartbeat_at=job.heartbeat_at
            ).update(status=Status.QUEUED)
    for job in ExportJob.objects.filter(status=Status.COMPLETED, expires_at__lte=now):
        shutil.rmtree(export_dir() / str(job.pk), ignore_errors=True)
        changed += ExportJob.objects.filter(pk=job.pk).update(status=Status.EXPIRED)
    return changed


_runner: threading.Thread | None = None
# The job this process's thread is writing: never "recovered" from under it, however
# long one query takes between heartbeats.
_current_job: uuid.UUID | None = None


def run_queued() -> int:
    """Run queued jobs one after another until none is left; returns how many ran."""
    global _current_job
    ran = 0
    while (job := claim_next()) is not None:
        _current_job = job.pk
        try:
            run_job(job)
        finally:
            _current_job = None
        ran += 1
    return ran


def dispatch_exports(now: datetime) -> int:
    """The worker's job: recover and expire, then run queued exports in a background thread."""
    global _runner
    changed = recover_and_expire(now)
    if (_runner is None or not _runner.is_alive()) and ExportJob.objects.filter(
        status=Status.QUEUED
    ).exists():
        _runner = threading.Thread(target=_run_in_thread, name="fhir-export", daemon=True)
        _runner.start()
        changed += 1
    return changed


def _run_in_thread() -> None:
    try:
        run_queued()
    finally:
        connection.close()  # the thread's own connection; nobody else would close it
