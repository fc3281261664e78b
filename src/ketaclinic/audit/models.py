"""The append-only, hash-sealed audit log.

Each event stores a SHA-256 digest of its own content, written in the same
transaction as the change it records: an INSERT, with no lock shared between
requests. Within seconds the worker (or `seal_audit`) seals the new events of each
clinic in a batch: a Merkle root over their digests, chained to the clinic's
previous seal. A seal names the run of sequence numbers it covers, so sealing writes
one seal row and never touches the events: once written, an event is never updated.
Altering an event breaks its digest; removing one breaks its seal's root and count;
removing a seal breaks the chain. See `audit.services.verify`.

Before it is sealed, an event is already numbered: each clinic's chain (`AuditChain`)
hands out the next sequence number and a running hash (`link`) over every digest so
far, in one UPDATE in the event's own transaction. A missing event, sealed or not,
leaves a gap in the numbers and a broken link, and the chain's head row says how many
events there must be.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    at = models.DateTimeField(db_index=True)
    clinic = models.ForeignKey(
        "accounts.Clinic", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
    )
    username = models.CharField(max_length=150, blank=True)
    role = models.CharField(max_length=20, blank=True)
    patient_id = models.BigIntegerField(null=True, blank=True)
    action = models.CharField(max_length=40)
    object_type = models.CharField(max_length=60, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    via_token = models.BigIntegerField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    digest = models.CharField(max_length=64)
    # Position in the clinic's chain (1, 2, 3, ...) and the running hash after this event:
    # sha256(link of the previous event + digest). Empty only on events written before
    # numbering existed and never backfilled (the migration backfills them).
    seq = models.PositiveBigIntegerField(null=True, blank=True)
    link = models.CharField(max_length=64, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["clinic", "patient_id", "at"], name="audit_patient_idx"),
            models.Index(fields=["clinic", "user", "at"], name="audit_user_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "seq"], name="audit_one_event_per_seq")
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.username} {self.action} {self.object_type}"


class AuditSeal(models.Model):
    """A batch of one clinic's events: their Merkle root, chained to the previous seal.

    It covers the chain's events numbered `first_seq` to `last_seq`, read in number
    order; `count` of them were there when it was sealed. `first_event` and `last_event`
    are the ids of the first and last of them (part of the seal's own hash).
    """

    clinic = models.ForeignKey(
        "accounts.Clinic", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    chain = models.BigIntegerField(help_text="The clinic id, or 0 for events outside a clinic.")
    seq = models.PositiveIntegerField()
    first_event = models.BigIntegerField()
    last_event = models.BigIntegerField()
    first_seq = models.PositiveBigIntegerField()
    last_seq = models.PositiveBigIntegerField()
    count = models.PositiveIntegerField()
    merkle_root = models.CharField(max_length=64)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    sealed_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["chain", "seq"], name="one_seal_per_seq")]

    def __str__(self) -> str:
        return f"seal {self.chain}/{self.seq} ({self.count} events)"


class AuditChain(models.Model):
    """The head of one clinic's event chain: how many events it holds and their running hash.

    Its row is taken (UPDATE) by every event of the clinic, inside the event's
    transaction, so numbers follow commit order and a rolled-back event leaves no gap.
    A database trigger lets `seq` only grow by one.
    """

    chain = models.BigIntegerField(
        unique=True, help_text="The clinic id, or 0 for events outside a clinic."
    )
    seq = models.PositiveBigIntegerField(default=0)
    head = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"chain {self.chain} at {self.seq}"


class AuditCheckpoint(models.Model):
    """Where a chain was last verified whole: the next incremental verification starts here.

    The newest seal found intact (its number and hash) and the number and running hash of
    its last event. Moving it forward only lets a later run skip what was proven; a full
    verification (`verify_audit --full`) ignores it.
    """

    chain = models.BigIntegerField(unique=True)
    seal_seq = models.PositiveIntegerField()
    seal_hash = models.CharField(max_length=64)
    event_seq = models.PositiveBigIntegerField()
    event_link = models.CharField(max_length=64)
    verified_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"chain {self.chain} verified to seal {self.seal_seq}"


class Heartbeat(models.Model):
    """When a background loop last finished a pass ("seal", "worker"): for health checks."""

    name = models.CharField(max_length=40, unique=True)
    at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.at:%Y-%m-%d %H:%M:%S}"
