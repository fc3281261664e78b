"""Export a clinic's record as FHIR NDJSON files, like $export, with a progress bar."""

from __future__ import annotations

import sys
import time
from functools import partial
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ketaclinic.accounts.models import Clinic
from ketaclinic.audit.services import record_system
from ketaclinic.interop import bulk, groups
from ketaclinic.interop.params import SearchError, parse_date


class Command(BaseCommand):
    help = "Write a clinic's FHIR Bulk Data export (one NDJSON file per type) to a directory."

    def add_arguments(self, parser):
        parser.add_argument("--clinic", required=True, help="the clinic's slug")
        parser.add_argument("--out", required=True, help="directory for the .ndjson files")
        parser.add_argument("--type", default="", help="resource types, comma-separated")
        parser.add_argument("--since", default="", help="only what changed since (FHIR date)")
        parser.add_argument("--group", default="", help="only this group's patients")

    def handle(self, *args, clinic: str, out: str, type: str, since: str, group: str, **options):
        found = Clinic.objects.filter(slug=clinic).first()
        if found is None:
            raise CommandError(f"--clinic: no clinic with the slug {clinic!r}")
        types = [t for t in type.split(",") if t] or bulk.DEFAULT_TYPES
        unknown = sorted(set(types) - bulk.EXPORTABLE)
        if unknown:
            raise CommandError(f"--type: {', '.join(unknown)} cannot be exported")
        try:
            start = parse_date("--since", since, found.tz).start if since else None
        except SearchError as exc:
            raise CommandError(str(exc)) from None
        if group and group not in groups.GROUPS:
            raise CommandError(f"--group: choose one of {', '.join(groups.GROUPS)}")
        patient_ids = groups.member_ids(found, group) if group else None
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        record_system(
            "fhir_export_command",
            clinic=found,
            detail={"types": types, "group": group, "since": since},
        )
        bar = _ProgressBar(len(types))
        total = 0
        for type_name in types:
            files = bulk.write_type(
                bulk.resources_of(found, type_name, since=start, patient_ids=patient_ids),
                folder,
                type_name,
                limit_bytes=settings.KETACLINIC_EXPORT_FILE_BYTES,
                tick=partial(bar.tick, type_name),
            )
            total += sum(count for _name, count in files)
            bar.type_done(type_name)
        bar.finish()
        self.stdout.write(f"{total} resources written to {folder}")


class _ProgressBar:
    """A one-line bar on stderr: types done, resources written, the type being written."""

    WIDTH = 30

    def __init__(self, types: int) -> None:
        self.types = types
        self.done = 0
        self.written = 0
        self.last = 0.0

    def tick(self, type_name: str, n: int) -> None:
        self.written += n
        if time.monotonic() - self.last > 0.2:
            self.draw(type_name)

    def type_done(self, type_name: str) -> None:
        self.done += 1
        self.draw(type_name)

    def draw(self, type_name: str) -> None:
        self.last = time.monotonic()
        filled = self.WIDTH * self.done // max(self.types, 1)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        sys.stderr.write(
            f"\r[{bar}] {self.done}/{self.types} types, {self.written} resources ({type_name})\x1b[K"
        )
        sys.stderr.flush()

    def finish(self) -> None:
        sys.stderr.write("\n")
