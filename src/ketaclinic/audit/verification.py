"""Verifying the audit log at network scale: one streaming pass, or only what is new.

A full verification reads every event once, in the order the rows were written (`id`),
in large batches from a server-side cursor, and keeps per chain only its running state:
the next number, the running hash, and the digests of the seal being read (for its
Merkle root). Within a chain, ids follow the numbers (each event takes its number and
its id while holding the chain's row); should they ever not, that chain is read again
in number order, so the answer never depends on the shortcut.

After a verification that found nothing wrong, each chain's newest verified seal is
remembered (`AuditCheckpoint`): the seal's number and hash and the number and running
hash of its last event. An incremental verification starts there: it checks that the
remembered seal is still in place unchanged, then only the events and seals after it.
Events before a checkpoint were proven once and are guarded by the database triggers,
the seal chain and the anchor; a full verification (`verify_audit --full`) reads them
all again and should run from time to time (and after a restore).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from ketaclinic.audit.models import AuditChain, AuditCheckpoint, AuditEvent, AuditSeal

GENESIS = "0" * 64
BATCH = 20_000  # rows per round trip of the server-side cursor
COLUMNS = (
    "id", "event_id", "at", "clinic_id", "user_id", "username", "role", "patient_id",
    "action", "object_type", "object_id", "ip", "via_token", "detail", "digest", "seq",
    "link",
)  # fmt: skip

# The same canonical JSON as services.event_digest, with one encoder for every event
# (json.dumps with options builds a new encoder per call).
_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str).encode
_sha = hashlib.sha256


def row_digest(row: tuple[Any, ...]) -> str:
    """services.event_digest for a row of COLUMNS."""
    content = {
        "event_id": str(row[1]),
        "at": row[2].isoformat(),
        "clinic": row[3],
        "user": row[4],
        "username": row[5],
        "role": row[6],
        "patient": row[7],
        "action": row[8],
        "object_type": row[9],
        "object_id": row[10],
        "ip": row[11],
        "via_token": row[12],
        "detail": row[13],
    }
    return _sha(_encode(content).encode()).hexdigest()


@dataclass(frozen=True)
class Problem:
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


class OutOfOrder(Exception):
    """A chain's ids do not follow its numbers: read that chain in number order instead."""


def _numbers(first: int, last: int) -> str:
    return f"event {first} is" if first == last else f"events {first}–{last} are"


@dataclass
class SealRead:
    """The events read within one seal's run of numbers."""

    first_seq: int
    count: int = 0
    digests: list[str] = field(default_factory=list)
    last_seq: int = 0
    last_link: str = ""
    root: str | None = None  # the Merkle root, once the seal's run of events has ended

    def merkle(self) -> str:
        """The root of the digests read; computed once, then the digests are let go, so
        memory stays flat however many seals the log holds."""
        if self.root is None:
            from ketaclinic.audit.services import merkle_root

            self.root, self.digests = merkle_root(self.digests), []
        return self.root


class ChainCheck:
    """The running state of one chain's events, fed in number order.

    `seals`: the chain's seals to be checked, as (pk, first_seq, last_seq) in number
    order; each event is counted into the seal whose run of numbers holds it.
    """

    def __init__(
        self,
        chain: int,
        seals: list[tuple[int, int, int]],
        expected: int = 1,
        link: str = GENESIS,
        strict: bool = False,
    ):
        self.chain, self.expected, self.link = chain, expected, link
        self.strict = strict  # raise OutOfOrder instead of reporting a number seen before
        self.problems: list[Problem] = []
        self.seals = {pk: SealRead(first) for pk, first, _ in seals}
        self._runs = [(first, last, self.seals[pk]) for pk, first, last in seals]
        self._at = 0  # the first seal whose run has not ended
        self._run = self._runs[0] if self._runs else (0, -1, None)
        self.events = 0

    def _seal_holding(self, seq: int) -> SealRead | None:
        first, last, read = self._run
        if first <= seq <= last:  # most events: the same seal as the event before
            return read
        runs = self._runs
        while self._at < len(runs) and runs[self._at][1] < seq:
            runs[self._at][2].merkle()  # that seal's run of events has ended
            self._at += 1
        if self._at < len(runs):
            self._run = runs[self._at]
            if self._run[0] <= seq:
                return self._run[2]
        return None

    def event(self, row: tuple[Any, ...]) -> None:
        pk, digest, seq, link = row[0], row[14], row[15], row[16]
        self.events += 1
        if row_digest(row) != digest:
            self.problems.append(Problem(f"event {pk}", "content was altered after it was written"))
        if seq is None:
            self.problems.append(Problem(f"event {pk}", "has no place in its clinic's chain"))
            return
        if seq < self.expected and self.strict:
            raise OutOfOrder(self.chain)
        read = self._seal_holding(seq)
        if read is not None:
            read.count += 1
            read.digests.append(digest)
            read.last_seq, read.last_link = seq, link
        if seq != self.expected:
            missing = _numbers(self.expected, seq - 1)
            self.problems.append(
                Problem(f"chain {self.chain}", f"{missing} missing (the gap is before event {pk})")
            )
        elif _sha((self.link + digest).encode()).hexdigest() != link:
            self.problems.append(Problem(f"event {pk}", "does not follow the event before it"))
        self.link, self.expected = link, seq + 1

    def close(self, head: AuditChain | None) -> None:
        if head is not None and head.seq >= self.expected:
            missing = _numbers(self.expected, head.seq)
            self.problems.append(
                Problem(f"chain {self.chain}", f"{missing} missing: the newest events were removed")
            )
        elif head is not None and head.head != self.link:
            self.problems.append(
                Problem(f"chain {self.chain}", "its head does not match its last event")
            )


def _stream(queryset: Any) -> Iterator[tuple[Any, ...]]:
    """The events of `queryset` as rows of COLUMNS, in its order, a batch at a time."""
    if connection.vendor == "postgresql":
        yield from _stream_postgresql(queryset)
        return
    yield from queryset.values_list(*COLUMNS).iterator(chunk_size=BATCH)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# PostgreSQL sends the time as microseconds and the ids and JSON as text: parsing a
# timestamp text per row was half the cost of reading an event.
_PG_COLUMNS = {
    "event_id": "event_id::text",
    "at": "(extract(epoch FROM at) * 1000000)::bigint",
    "detail": "detail::text",
}


def _stream_postgresql(queryset: Any) -> Iterator[tuple[Any, ...]]:
    sql, params = queryset.values_list("id").query.sql_with_params()
    table = AuditEvent._meta.db_table
    select = ", ".join(_PG_COLUMNS.get(c, c) for c in COLUMNS)
    # Keep the queryset's WHERE and ORDER BY; read the columns this module needs.
    head = sql.index(" FROM ")
    sql = f"SELECT {select}{sql[head:]}".replace(f'"{table}".', "")
    loads = json.loads
    micro = timedelta(microseconds=1)
    with transaction.atomic(), connection.connection.cursor(name="audit_verify") as cursor:
        cursor.itersize = BATCH
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(BATCH):
            for row in rows:
                yield (
                    row[0], row[1], EPOCH + row[2] * micro, *row[3:13], loads(row[13]),
                    *row[14:],
                )  # fmt: skip


@dataclass
class Result:
    problems: list[Problem]
    events: int
    seals: int
    checkpoints: dict[int, AuditCheckpoint]


def run(*, full: bool, anchor_heads: dict[int, tuple[int, str]] | None) -> Result:
    """Verify every chain (full) or what came after each chain's checkpoint."""
    from ketaclinic.audit.services import seal_hash

    heads = {c.chain: c for c in AuditChain.objects.all()}
    marks = {} if full else {c.chain: c for c in AuditCheckpoint.objects.all()}
    problems: list[Problem] = []
    checks: dict[int, ChainCheck] = {}

    def start(chain: int, strict: bool) -> ChainCheck:
        mark = marks.get(chain)
        if mark is None:
            return ChainCheck(chain, runs.get(chain, []), strict=strict)
        return ChainCheck(
            chain, runs.get(chain, []), mark.event_seq + 1, mark.event_link, strict=strict
        )

    runs = _seal_runs(marks, full=full)

    if full:
        # One pass in write order; a chain whose ids do not follow its numbers is
        # dropped from the pass and read again on its own.
        disordered: set[int] = set()
        for row in _stream(AuditEvent.objects.order_by("id")):
            chain = row[3] or 0
            if chain in disordered:
                continue
            check = checks.get(chain)
            if check is None:
                check = checks[chain] = start(chain, strict=True)
            try:
                check.event(row)
            except OutOfOrder:
                disordered.add(chain)
        for chain in disordered:
            checks[chain] = _one_chain(start(chain, strict=False), marks.get(chain))
    else:
        for chain in set(heads) | set(marks):
            checks[chain] = _one_chain(start(chain, strict=False), marks.get(chain))

    # Events: each chain's problems, chains in order.
    for chain in sorted(checks):
        check = checks[chain]
        check.close(heads.pop(chain, None))
        problems.extend(check.problems)
    for chain, head in sorted(heads.items()):  # chains whose every (new) event is gone
        mark = marks.get(chain)
        if head.seq > (mark.event_seq if mark else 0):
            first = (mark.event_seq if mark else 0) + 1
            what = f"all {head.seq} events are missing" if first == 1 else (
                f"{_numbers(first, head.seq)} missing: the newest events were removed"
            )  # fmt: skip
            problems.append(Problem(f"chain {chain}", what))

    # Seals: each chain unbroken from its checkpoint, each covering exactly its events.
    new_marks: dict[int, AuditCheckpoint] = {}
    seals_checked = 0
    seal_problems: list[Problem] = []
    seals = AuditSeal.objects.order_by("chain", "seq")
    for chain in sorted(set(AuditSeal.objects.values_list("chain", flat=True)) | set(marks)):
        mark = marks.get(chain)
        prev, expected_seq, last_sealed = GENESIS, 1, 0
        rows = seals.filter(chain=chain)
        if mark is not None:
            kept = rows.filter(seq=mark.seal_seq).values_list("hash", flat=True).first()
            if kept != mark.seal_hash:
                what = "is missing" if kept is None else "was altered"
                seal_problems.append(
                    Problem(
                        f"seal {chain}/{mark.seal_seq}",
                        f"{what} since it was verified on {mark.verified_at:%Y-%m-%d %H:%M} UTC",
                    )
                )
            prev, expected_seq = mark.seal_hash, mark.seal_seq + 1
            last_sealed = mark.event_seq
            rows = rows.filter(seq__gt=mark.seal_seq)
        check = checks.get(chain)
        read_of = check.seals if check else {}
        for seal in rows.iterator(chunk_size=2000):
            seals_checked += 1
            where = f"seal {chain}/{seal.seq} (events {seal.first_event}–{seal.last_event})"
            if seal.seq != expected_seq:
                seal_problems.append(Problem(where, f"seal {chain}/{expected_seq} is missing"))
            if seal.prev_hash != prev:
                seal_problems.append(Problem(where, "does not follow the previous seal"))
            read = read_of.get(seal.pk) or SealRead(seal.first_seq)
            if seal.first_seq <= last_sealed or seal.last_seq < seal.first_seq:
                seal_problems.append(
                    Problem(where, f"its numbers {seal.first_seq}–{seal.last_seq} are out of order")
                )
            if read.count < seal.count:
                seal_problems.append(
                    Problem(where, f"{seal.count - read.count} sealed event(s) were removed")
                )
            elif read.count > seal.count:
                seal_problems.append(Problem(where, "holds more events than were sealed"))
            elif read.merkle() != seal.merkle_root:
                seal_problems.append(Problem(where, "an event's digest was altered"))
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
                seal_problems.append(Problem(where, "the seal itself was altered"))
            prev, expected_seq, last_sealed = seal.hash, seal.seq + 1, seal.last_seq
            if read.count:
                new_marks[chain] = AuditCheckpoint(
                    chain=chain,
                    seal_seq=seal.seq,
                    seal_hash=seal.hash,
                    event_seq=read.last_seq,
                    event_link=read.last_link,
                )
    problems.extend(seal_problems)

    # The newest anchored seal of each chain is still there, unchanged.
    stored = {(c, q): h for c, q, h in AuditSeal.objects.values_list("chain", "seq", "hash")}
    for chain, (seq, digest) in sorted((anchor_heads or {}).items()):
        found = stored.get((chain, seq))
        if found is None:
            problems.append(
                Problem(
                    f"seal {chain}/{seq}", "is anchored but missing: the newest events were removed"
                )
            )
        elif found != digest:
            problems.append(Problem(f"seal {chain}/{seq}", "differs from its anchored hash"))
    events = sum(c.events for c in checks.values())
    return Result(problems, events, seals_checked, new_marks)


def _seal_runs(
    marks: dict[int, AuditCheckpoint], *, full: bool
) -> dict[int, list[tuple[int, int, int]]]:
    """Each chain's seals to check, as (pk, first_seq, last_seq) in number order: every
    seal (full), or those after the chain's checkpoint."""
    columns = ("chain", "pk", "first_seq", "last_seq")
    if full:
        rows = AuditSeal.objects.order_by("chain", "seq").values_list(*columns)
    else:
        after = Q(pk__in=[])
        for chain in set(AuditChain.objects.values_list("chain", flat=True)) | set(marks):
            mark = marks.get(chain)
            after |= Q(chain=chain, seq__gt=mark.seal_seq if mark else 0)
        rows = AuditSeal.objects.filter(after).order_by("chain", "seq").values_list(*columns)
    runs: dict[int, list[tuple[int, int, int]]] = {}
    for chain, pk, first, last in rows.iterator(chunk_size=BATCH):
        runs.setdefault(chain, []).append((pk, first, last))
    return runs


def _one_chain(check: ChainCheck, mark: AuditCheckpoint | None) -> ChainCheck:
    chain = check.chain
    events = AuditEvent.objects.filter(
        **({"clinic_id": chain} if chain else {"clinic_id__isnull": True})
    ).order_by("seq", "id")
    if mark is not None:
        events = events.filter(seq__gt=mark.event_seq)
    for row in _stream(events):
        check.event(row)
    return check


def _remember(marks: Iterable[AuditCheckpoint]) -> None:
    """Keep each chain's newest verified seal as the next incremental start."""
    now = timezone.now()
    with transaction.atomic():
        for mark in marks:
            AuditCheckpoint.objects.update_or_create(
                chain=mark.chain,
                defaults={
                    "seal_seq": mark.seal_seq,
                    "seal_hash": mark.seal_hash,
                    "event_seq": mark.event_seq,
                    "event_link": mark.event_link,
                    "verified_at": now,
                },
            )


def verify(
    anchor_heads: dict[int, tuple[int, str]] | None, *, full: bool, remember: bool = True
) -> Result:
    result = run(full=full, anchor_heads=anchor_heads)
    if remember and not result.problems:
        _remember(result.checkpoints.values())
    return result
