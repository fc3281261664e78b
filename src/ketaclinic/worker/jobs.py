"""The background jobs the worker runs on every pass, in order.

This is the top layer: it may import every app. Each job takes the time of the pass
and returns how much it did; one failing job never stops the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db import connection

from ketaclinic.audit import journal
from ketaclinic.audit.services import beat, last_beat, seal_pending
from ketaclinic.billing.services import propose_missing
from ketaclinic.interop.bulk import dispatch_exports
from ketaclinic.inventory.services import (
    alert_admins_of_ledger_problems,
    send_inventory_reminders,
    verify_ledger,
)
from ketaclinic.measures.services import notify_unnotified_alerts, send_due_questionnaires
from ketaclinic.portal.sign_in import send_requested_links
from ketaclinic.scheduling.services import (
    send_due_reminders,
    send_pre_appointment_questionnaires,
)
from ketaclinic.website.services import unpublish_unauthorized_stories
from ketaclinic.worker.backup import scheduled_backup

log = logging.getLogger(__name__)


def drain_audit_journal(now: datetime) -> int:
    """Move journaled audit events into the database (audit/journal.py), before sealing."""
    return journal.drain()


def seal_audit(now: datetime) -> int:
    return seal_pending()


def optimize_sqlite(now: datetime) -> int:
    """Keep SQLite's table statistics fresh (cheap when nothing changed).

    SQLite plans with statistics only once ANALYZE has run; without them a name search
    scans the sort index instead of the name index (bench/patient_search.py).
    """
    if connection.vendor != "sqlite":
        return 0
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA optimize=0x10002")
    return 1


def verify_ledger_nightly(now: datetime) -> int:
    """Verify the drug ledger once a day (after 02:00 UTC) and e-mail admins what is wrong."""
    last = last_beat("verify_ledger")
    if now.hour < 2 or (last is not None and last.date() == now.date()):
        return 0
    problems = verify_ledger()
    beat("verify_ledger", now)
    if problems:
        # Entry ids only: the message goes to the log, the details go to the admins.
        log.error("worker: the drug ledger failed verification at %s", problems[0])
    return alert_admins_of_ledger_problems(problems)


def verify_audit_nightly(now: datetime) -> int:
    """Verify the audit log once a day (after 02:00 UTC) from the last clean verification.

    Incremental: only the events and seals written since. `verify_audit --full` re-reads
    everything on demand.
    """
    from ketaclinic.audit.services import verify

    last = last_beat("verify_audit")
    if now.hour < 2 or (last is not None and last.date() == now.date()):
        return 0
    problems = verify(full=False, remember=True)
    beat("verify_audit", now)
    if problems:
        log.error("worker: the audit log failed verification at %s", problems[0])
    return len(problems)


def daily_backup(now: datetime) -> int:
    """A backup once a day after BACKUP_HOUR (UTC), the newest BACKUP_KEEP kept."""
    if not settings.BACKUP_DIR or now.hour < settings.BACKUP_HOUR:
        return 0
    last = last_beat("backup")
    if last is not None and last.date() == now.date():
        return 0
    scheduled_backup(now, Path(settings.BACKUP_DIR), settings.BACKUP_KEEP)
    beat("backup", now)
    return 1


def remind_inventories(now: datetime) -> int:
    return send_inventory_reminders()  # each clinic on its own date


Job = Callable[[datetime], int]

# (job, seconds between runs)
JOBS: list[tuple[Job, float]] = [
    (drain_audit_journal, 0),
    (seal_audit, 0),
    # Patients' "e-mail me a sign-in link": the page only queues them (no timing tells).
    (send_requested_links, 0),
    # Safety alerts whose physician e-mail has not gone yet (mail server down at commit).
    (notify_unnotified_alerts, 60),
    (send_due_questionnaires, 60),
    (send_pre_appointment_questionnaires, 60),
    (send_due_reminders, 60),
    (optimize_sqlite, 600),
    (remind_inventories, 3600),
    # FHIR Bulk Data exports run in a thread of their own; this starts and recovers them.
    (dispatch_exports, 2),
    (verify_ledger_nightly, 600),
    (verify_audit_nightly, 600),
    (daily_backup, 600),
    # Charges for signed visits that have none (progress notes, consultations, retries).
    (propose_missing, 300),
    # Patients' stories whose authorization was revoked or expired leave the website.
    (unpublish_unauthorized_stories, 300),
]
