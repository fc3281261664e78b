"""Writing, sealing and verifying audit events."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Clinic, User
from ketaclinic.audit import anchor, journal, verification
from ketaclinic.audit.models import AuditChain, AuditEvent, AuditSeal, Heartbeat
from ketaclinic.audit.verification import Problem

GENESIS = "0" * 64


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def event_digest(event: AuditEvent) -> str:
    """SHA-256 over the event's content: every stored field but its digest, number and link."""
    content = {
        "event_id": str(event.event_id),
        "at": event.at.isoformat(),
        "clinic": event.clinic_id,
        "user": event.user_id,
        "username": event.username,
        "role": event.role,
        "patient": event.patient_id,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "ip": event.ip,
        "via_token": event.via_token,
        "detail": event.detail,
    }
    return _sha(json.dumps(content, sort_keys=True, separators=(",", ":"), default=str))


def _new_event(**fields: Any) -> AuditEvent:
    event = AuditEvent(event_id=uuid.uuid4(), at=timezone.now(), **fields)
    event.digest = event_digest(event)
    return event


def chain_link(previous: str, digest: str) -> str:
    """The running hash of a chain after an event: sha256(previous link + digest)."""
    return _sha(previous + digest)


# One statement takes the next number and extends the running hash (the same function
# as chain_link, computed by the database so that no second round trip is needed).
_NEXT_LINK = {
    "postgresql": (
        "UPDATE audit_auditchain SET seq = seq + 1,"
        " head = encode(sha256(convert_to(head || %s, 'UTF8')), 'hex')"
        " WHERE chain = %s RETURNING seq, head"
    ),
    # SHA256() is registered on every SQLite connection by Django.
    "sqlite": (
        "UPDATE audit_auditchain SET seq = seq + 1, head = SHA256(head || %s)"
        " WHERE chain = %s RETURNING seq, head"
    ),
}


def _append(event: AuditEvent) -> AuditEvent:
    """Journal the event (audit/journal.py), or number, link and insert it in one transaction.

    Synchronously, the chain row stays locked until the surrounding transaction ends, so
    numbers follow commit order; a rollback takes back both the number and the event.
    """
    if journal.enabled():
        journal.submit(event)
        return event
    with transaction.atomic(savepoint=False):
        number_in_chain(event)
        event.save(force_insert=True)
    return event


def number_in_chain(event: AuditEvent) -> None:
    """Give the event the next number and link of its clinic's chain (inside a transaction)."""
    chain = event.clinic_id or 0
    connection = transaction.get_connection()
    with connection.cursor() as cursor:
        cursor.execute(_NEXT_LINK[connection.vendor], [event.digest, chain])
        row = cursor.fetchone()
        if row is None:  # the chain's first event ever
            _start_chain(chain)
            cursor.execute(_NEXT_LINK[connection.vendor], [event.digest, chain])
            row = cursor.fetchone()
        event.seq, event.link = row


def hold_chain(clinic_id: int | None) -> None:
    """Take the clinic's chain row now, for a transaction that will lock other rows first.

    Every audit event holds its clinic's chain row until commit. A transaction that locks
    a row and then records, running beside one that recorded and then wants that row,
    would deadlock; taking the chain first, where a service locks, keeps one order.
    """
    chain = clinic_id or 0
    if not AuditChain.objects.select_for_update().filter(chain=chain).exists():
        _start_chain(chain)
        AuditChain.objects.select_for_update().filter(chain=chain).exists()


def _start_chain(chain: int) -> None:
    try:
        with transaction.atomic():
            AuditChain.objects.create(chain=chain, seq=0, head=GENESIS)
    except IntegrityError:
        pass  # another transaction started it first; its row is now ours to wait for


def record(
    actor: Actor,
    action: str,
    *,
    patient_id: int | None = None,
    obj: Any = None,
    object_type: str = "",
    object_id: str | int = "",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event for an action by `actor` (call inside the change's transaction).

    `detail` must hold no patient data: ids, codes and field names only.
    """
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or obj.pk
    event = _new_event(
        clinic_id=actor.clinic.pk,
        user_id=actor.user.pk,
        username=actor.user.username,
        role=actor.role.value,
        patient_id=patient_id,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        ip=actor.ip,
        via_token=actor.token_id,
        detail=detail or {},
    )
    return _append(event)


def record_system(
    action: str,
    *,
    user: User | None = None,
    username: str = "",
    clinic: Clinic | None = None,
    ip: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append an event that has no acting membership: log-ins, failures, lockouts."""
    event = _new_event(
        clinic_id=clinic.pk if clinic else None,
        user_id=user.pk if user else None,
        username=(user.username if user else username)[:150],
        role="",
        patient_id=None,
        action=action,
        ip=ip,
        detail=detail or {},
    )
    return _append(event)


def record_patient_link(
    action: str,
    *,
    clinic_id: int,
    patient_id: int,
    obj: Any,
    ip: str | None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append an event for something a patient did through a tokenized link (no staff login)."""
    event = _new_event(
        clinic_id=clinic_id,
        user_id=None,
        username="patient-link",
        role="patient",
        patient_id=patient_id,
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        ip=ip,
        detail=detail or {},
    )
    return _append(event)


def merkle_root(digests: list[str]) -> str:
    """Root of a binary Merkle tree over hex digests (an odd node is paired with itself)."""
    if not digests:
        return GENESIS
    level = digests
    while len(level) > 1:
        if len(level) % 2:
            level = [*level, level[-1]]
        level = [_sha(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def seal_hash(
    *, chain: int, seq: int, first: int, last: int, count: int, root: str, prev: str
) -> str:
    return _sha(f"{chain}|{seq}|{first}|{last}|{count}|{root}|{prev}")


def seal_pending(batch_size: int = 5000) -> int:
    """Seal every unsealed event, one batch per clinic chain at a time; returns events sealed."""
    sealed = 0
    while True:
        progress = 0
        for chain, *_ in unsealed_chains():
            try:
                progress += _seal_batch(chain, batch_size)
            except IntegrityError:
                continue  # another sealer took this seal number; the next pass retries
        sealed += progress
        if progress == 0:
            break
    beat("seal")
    return sealed


def unsealed_chains() -> list[tuple[int, int, int]]:
    """(chain, events in it, events sealed) of each chain with events still to seal.

    Seals cover runs of numbers in order, so a chain's events after its newest seal's
    last number are the unsealed ones: one query over the chain heads, each newest seal
    read off the (chain, seq) index.
    """
    newest = AuditSeal.objects.filter(chain=OuterRef("chain")).order_by("-seq")
    return list(
        AuditChain.objects.annotate(
            through=Coalesce(Subquery(newest.values("last_seq")[:1]), Value(0))
        )
        .filter(seq__gt=F("through"))
        .order_by("chain")
        .values_list("chain", "seq", "through")
    )


def beat(name: str, at: datetime | None = None) -> None:
    """Record that the loop `name` finished a pass at `at` (now), for health checks."""
    now = at or timezone.now()
    if not Heartbeat.objects.filter(name=name).update(at=now):
        try:
            with transaction.atomic():
                Heartbeat.objects.create(name=name, at=now)
        except IntegrityError:
            Heartbeat.objects.filter(name=name).update(at=now)


def last_beat(name: str) -> datetime | None:
    return Heartbeat.objects.filter(name=name).values_list("at", flat=True).first()


@transaction.atomic
def _seal_batch(chain: int, batch_size: int) -> int:
    in_chain = Q(clinic_id=chain or None)  # 0: the network's own chain (IS NULL)
    previous = AuditSeal.objects.filter(chain=chain).order_by("-seq").first()
    seq = previous.seq + 1 if previous else 1
    prev = previous.hash if previous else GENESIS
    # The oldest numbers after the newest seal, read off the (clinic, seq) index. Events
    # are never updated: the seal alone records that they are sealed.
    events = list(
        AuditEvent.objects.filter(in_chain, seq__gt=previous.last_seq if previous else 0)
        .order_by("seq")
        .values_list("id", "digest", "seq")[:batch_size]
    )
    if not events:
        return 0
    first, last = events[0], events[-1]
    assert first[2] is not None and last[2] is not None  # seq__gt leaves out unnumbered ones
    root = merkle_root([digest for _, digest, _ in events])
    seal = AuditSeal.objects.create(
        clinic_id=chain or None,
        chain=chain,
        seq=seq,
        first_event=first[0],
        last_event=last[0],
        first_seq=first[2],
        last_seq=last[2],
        count=len(events),
        merkle_root=root,
        prev_hash=prev,
        hash=seal_hash(
            chain=chain,
            seq=seq,
            first=first[0],
            last=last[0],
            count=len(events),
            root=root,
            prev=prev,
        ),
        sealed_at=timezone.now(),
    )
    transaction.on_commit(lambda: anchor.write_line(f"{seal.chain} {seal.seq} {seal.hash}"))
    return len(events)


def anchored_heads(path: Path | None = None) -> dict[int, tuple[int, str]] | None:
    """The newest anchored (seq, hash) per chain, or None when there is no anchor file."""
    return anchor.read_heads(Path(path or settings.AUDIT_ANCHOR))


def verify(
    anchor_path: Path | None = None, *, full: bool = True, remember: bool = False
) -> list[Problem]:
    """Every way the stored log differs from what was written, first problem first.

    `anchor_path`: the anchor file to check the newest seals against (default the local one).
    `full=False` checks only what came after each chain's last clean verification
    (`audit.verification`); with `remember`, a clean run moves those checkpoints forward
    (the command and the nightly job; a restore's check leaves the database as restored).
    """
    return verification.verify(anchored_heads(anchor_path), full=full, remember=remember).problems


def chain_heads() -> dict[int, tuple[int, str]]:
    """The latest seal of each chain: (seq, hash), to be written down outside the database."""
    heads: dict[int, tuple[int, str]] = {}
    for chain in set(AuditSeal.objects.values_list("chain", flat=True)):
        seal = AuditSeal.objects.filter(chain=chain).order_by("-seq").first()
        assert seal is not None
        heads[chain] = (seal.seq, seal.hash)
    return heads


SEALING_LATE = timedelta(minutes=5)


def health_warnings(now: datetime | None = None) -> list[str]:
    """What an administrator must fix for the audit trail to stay provable, in plain words.

    Sealing late widens the window in which unsealed events rest on the database alone;
    an anchor kept only on this machine can be rewritten with it.
    """
    now = now or timezone.now()
    warnings = []
    beat_at = last_beat("seal")
    unsealed = Q(pk__in=[])
    for chain, _head, through in unsealed_chains():
        unsealed |= Q(clinic_id=chain or None, seq=through + 1)
    oldest = AuditEvent.objects.filter(unsealed).order_by("at").values_list("at", flat=True).first()
    waiting = journal.oldest_waiting() if journal.enabled() else None
    if waiting is not None and (oldest is None or waiting < oldest):
        oldest = waiting  # journaled events not yet in the database (audit/journal.py)
    if (oldest is not None and now - oldest > SEALING_LATE) or (
        beat_at is not None and now - beat_at > SEALING_LATE
    ):
        since = f" since {beat_at:%Y-%m-%d %H:%M} UTC" if beat_at else ""
        warnings.append(
            f"Audit events have not been sealed{since}: is the worker running "
            "(python -m ketaclinic worker)?"
        )
    if not settings.DEBUG and (reason := anchor.off_host_reason()):
        warnings.append(reason)
    return warnings
