"""Writing, sealing and verifying audit events."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Clinic, User
from ketaclinic.audit.models import AuditEvent, AuditSeal

GENESIS = "0" * 64
log = logging.getLogger(__name__)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def event_digest(event: AuditEvent) -> str:
    """SHA-256 over every stored field of an event except the digest and seal themselves."""
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
    event.save(force_insert=True)
    return event


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
    event.save(force_insert=True)
    return event


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
    event.save(force_insert=True)
    return event


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
        chains = list(
            AuditEvent.objects.filter(seal__isnull=True)
            .values_list("clinic_id", flat=True)
            .distinct()
        )
        if not chains:
            return sealed
        progress = 0
        for clinic_id in chains:
            try:
                progress += _seal_batch(clinic_id, batch_size)
            except IntegrityError:
                continue  # another sealer took this sequence number; the next pass retries
        sealed += progress
        if progress == 0:
            return sealed


@transaction.atomic
def _seal_batch(clinic_id: int | None, batch_size: int) -> int:
    chain = clinic_id or 0
    events = list(
        AuditEvent.objects.select_for_update()
        .filter(clinic_id=clinic_id, seal__isnull=True)
        .order_by("id")
        .values_list("id", "digest")[:batch_size]
    )
    if not events:
        return 0
    previous = AuditSeal.objects.filter(chain=chain).order_by("-seq").first()
    seq = previous.seq + 1 if previous else 1
    prev = previous.hash if previous else GENESIS
    ids = [pk for pk, _ in events]
    root = merkle_root([digest for _, digest in events])
    seal = AuditSeal.objects.create(
        clinic_id=clinic_id,
        chain=chain,
        seq=seq,
        first_event=ids[0],
        last_event=ids[-1],
        count=len(ids),
        merkle_root=root,
        prev_hash=prev,
        hash=seal_hash(
            chain=chain, seq=seq, first=ids[0], last=ids[-1], count=len(ids), root=root, prev=prev
        ),
        sealed_at=timezone.now(),
    )
    AuditEvent.objects.filter(id__in=ids).update(seal=seal)
    transaction.on_commit(lambda: _anchor(seal))
    return len(ids)


def _anchor(seal: AuditSeal) -> None:
    """Append the new chain head to the anchor file (one line: chain seq hash)."""
    path = Path(settings.AUDIT_ANCHOR)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="ascii") as anchor:
            anchor.write(f"{seal.chain} {seal.seq} {seal.hash}\n")
    except OSError:
        # Sealing stands without the anchor; verify_audit then cannot vouch for the tail.
        log.exception(
            "audit seal %s/%s: the anchor file could not be written", seal.chain, seal.seq
        )


def anchored_heads(path: Path | None = None) -> dict[int, tuple[int, str]] | None:
    """The newest anchored (seq, hash) per chain, or None when there is no anchor file."""
    path = Path(path or settings.AUDIT_ANCHOR)
    if not path.exists():
        return None
    heads: dict[int, tuple[int, str]] = {}
    for line in path.read_text(encoding="ascii").splitlines():
        chain, seq, digest = line.split()
        if int(seq) >= heads.get(int(chain), (0, ""))[0]:
            heads[int(chain)] = (int(seq), digest)
    return heads


@dataclass(frozen=True)
class Problem:
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


def verify() -> list[Problem]:
    """Every way the stored log differs from what was written, first problem first."""
    problems: list[Problem] = []
    # 1. Each event's content still matches its digest.
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        if event_digest(event) != event.digest:
            problems.append(
                Problem(f"event {event.pk}", "content was altered after it was written")
            )
    # 2. Each chain of seals is unbroken, and each seal still covers exactly its events.
    chains = AuditSeal.objects.values_list("chain", flat=True).distinct()
    for chain in sorted(set(chains)):
        prev = GENESIS
        expected_seq = 1
        for seal in AuditSeal.objects.filter(chain=chain).order_by("seq"):
            where = f"seal {chain}/{seal.seq} (events {seal.first_event}–{seal.last_event})"
            if seal.seq != expected_seq:
                problems.append(Problem(where, f"seal {chain}/{expected_seq} is missing"))
            if seal.prev_hash != prev:
                problems.append(Problem(where, "does not follow the previous seal"))
            digests = list(seal.events.order_by("id").values_list("digest", flat=True))
            if len(digests) != seal.count:
                problems.append(
                    Problem(where, f"{seal.count - len(digests)} sealed event(s) were removed")
                )
            elif merkle_root(digests) != seal.merkle_root:
                problems.append(Problem(where, "an event's digest was altered"))
            recomputed = seal_hash(
                chain=chain,
                seq=seal.seq,
                first=seal.first_event,
                last=seal.last_event,
                count=seal.count,
                root=seal.merkle_root,
                prev=seal.prev_hash,
            )
            if recomputed != seal.hash:
                problems.append(Problem(where, "the seal itself was altered"))
            prev = seal.hash
            expected_seq = seal.seq + 1
    # 3. The newest seal of each chain written to the anchor file is still there, unchanged:
    # removing the newest seals with their events leaves a chain that is otherwise whole.
    stored = {(c, q): h for c, q, h in AuditSeal.objects.values_list("chain", "seq", "hash")}
    for chain, (seq, digest) in sorted((anchored_heads() or {}).items()):
        found = stored.get((chain, seq))
        if found is None:
            problems.append(
                Problem(
                    f"seal {chain}/{seq}", "is anchored but missing: the newest events were removed"
                )
            )
        elif found != digest:
            problems.append(Problem(f"seal {chain}/{seq}", "differs from its anchored hash"))
    return problems


def chain_heads() -> dict[int, tuple[int, str]]:
    """The latest seal of each chain: (seq, hash), to be written down outside the database."""
    heads: dict[int, tuple[int, str]] = {}
    for chain in set(AuditSeal.objects.values_list("chain", flat=True)):
        seal = AuditSeal.objects.filter(chain=chain).order_by("-seq").first()
        assert seal is not None
        heads[chain] = (seal.seq, seal.hash)
    return heads
