"""The append-only, hash-sealed audit log.

Each event stores a SHA-256 digest of its own content, written in the same
transaction as the change it records: an INSERT, with no lock shared between
requests. Within seconds the worker (or `seal_audit`) seals the new events of each
clinic in a batch: a Merkle root over their digests, chained to the clinic's
previous seal. Altering an event breaks its digest; removing one breaks its seal's
root and count; removing a seal breaks the chain. See `audit.services.verify`.
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
    seal = models.ForeignKey(
        "AuditSeal", null=True, blank=True, on_delete=models.PROTECT, related_name="events"
    )

    class Meta:
        indexes = [
            models.Index(fields=["clinic", "patient_id", "at"], name="audit_patient_idx"),
            models.Index(fields=["clinic", "user", "at"], name="audit_user_idx"),
            models.Index(
                fields=["clinic", "id"],
                condition=models.Q(seal__isnull=True),
                name="audit_unsealed_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.username} {self.action} {self.object_type}"


class AuditSeal(models.Model):
    """A batch of one clinic's events: their Merkle root, chained to the previous seal."""

    clinic = models.ForeignKey(
        "accounts.Clinic", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    chain = models.BigIntegerField(help_text="The clinic id, or 0 for events outside a clinic.")
    seq = models.PositiveIntegerField()
    first_event = models.BigIntegerField()
    last_event = models.BigIntegerField()
    count = models.PositiveIntegerField()
    merkle_root = models.CharField(max_length=64)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    sealed_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["chain", "seq"], name="one_seal_per_seq")]

    def __str__(self) -> str:
        return f"seal {self.chain}/{self.seq} ({self.count} events)"
