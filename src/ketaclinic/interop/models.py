"""A Bulk Data export job: what was asked, how far the worker got, where the files are."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Status(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"


class ExportJob(models.Model):
    """One $export request. The worker resumes it type by type after a restart.

    `done` lists the resource types whose files are complete, with their files; a type
    cut short by a crash is written again from its start (its partial files deleted),
    so a resumed export never holds a line twice.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.CASCADE, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    level = models.CharField(max_length=10)  # system | patient | group
    group_id = models.CharField(max_length=40, blank=True)
    types = models.JSONField()
    since = models.DateTimeField(null=True, blank=True)
    request_url = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    done = models.JSONField(default=list, blank=True)  # [{"type", "files": [[name, count]]}]
    written = models.PositiveIntegerField(default=0)
    current_type = models.CharField(max_length=40, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "created_at"], name="export_status_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=Status.values), name="export_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(level__in=["system", "patient", "group"]),
                name="export_level_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"export {self.pk} ({self.status})"

    def progress_text(self) -> str:
        types_done = len(self.done)
        now = f", writing {self.current_type}" if self.current_type else ""
        return (
            f"{self.status}: {types_done} of {len(self.types)} resource types done, "
            f"{self.written} resources written{now}"
        )
