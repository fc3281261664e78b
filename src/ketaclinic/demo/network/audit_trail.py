"""The generated audit trail: numbered, linked and sealed per clinic."""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.db import connection, transaction

from ketaclinic.audit import anchor
from ketaclinic.audit.models import AuditChain, AuditSeal
from ketaclinic.audit.services import GENESIS, merkle_root, seal_hash

from .state import SEAL_SIZE, ClinicState, Ids
from .tables import (
    Progress,
    Table,
    write,
)


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
        batch_first, batch_first_seq = first_event, 0
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
                batch_first, batch_first_seq = event_pk, seq
            batch.append(digest)
            yield (
                event_pk, event_id, at, clinic, user, username, role, pid, action, otype, oid,
                ip, None, dumps(detail), digest, seq, link,
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
                        seal_id, clinic, clinic, seal_seq, batch_first, event_pk,
                        batch_first_seq, seq, len(batch), root, seal_prev, digest_seal, at,
                    )
                )  # fmt: skip
                anchor_lines.append(f"{clinic} {seal_seq} {digest_seal}")
                seal_prev, seal_id, batch = digest_seal, seal_id + 1, []
            if k % 5000 == 4999:
                bar.add(5000)
        bar.add(len(events) % 5000)

    write(tables["audit"], rows())
    if sealed:
        write(tables["seal"], seals)
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
