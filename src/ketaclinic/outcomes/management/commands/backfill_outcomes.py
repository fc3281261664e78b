"""Rebuild every patient's outcome rows (after an upgrade, an import, or a failed refresh)."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from ketaclinic.accounts.models import Clinic
from ketaclinic.outcomes.upkeep import backfill


class Command(BaseCommand):
    help = "Rebuild the per-patient outcome rows the dashboard aggregates."

    def add_arguments(self, parser):
        parser.add_argument("--clinic", help="slug of one clinic (default: every clinic)")

    def handle(self, *args, **options):
        clinic_id = None
        if options["clinic"]:
            clinic = Clinic.objects.filter(slug=options["clinic"]).first()
            if clinic is None:
                raise CommandError(f"No clinic with the slug {options['clinic']!r}.")
            clinic_id = clinic.pk
        started = time.perf_counter()
        count = backfill(clinic_id)
        self.stdout.write(
            f"outcome rows rebuilt for {count} patients in {time.perf_counter() - started:.1f} s"
        )
