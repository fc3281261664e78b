"""The worker's job leases: with several workers, each job runs in one of them at a time."""

from django.db import models


class JobLease(models.Model):
    """Who runs job `name` until `until` (renewed by its holder on every run)."""

    name = models.CharField(max_length=60, primary_key=True)
    holder = models.CharField(max_length=120)
    until = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder} until {self.until:%H:%M:%S}"
