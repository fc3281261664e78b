"""`python -m ketaclinic generate_network`: a clinic network of realistic size, for benchmarks."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from ketaclinic.demo.network import Sizes, generate


class Command(BaseCommand):
    help = (
        "Add a network of synthetic clinics (patients, sessions, vital signs, questionnaires, "
        "ledger, sealed audit trail) for benchmarks; COPY on PostgreSQL. Never on a real clinic's "
        "database."
    )

    def add_arguments(self, parser):
        parser.add_argument("--clinics", type=int, default=50)
        parser.add_argument("--patients", type=int, default=50_000)
        parser.add_argument("--sessions", type=int, default=500_000)
        parser.add_argument("--vitals", type=int, default=2_000_000)
        parser.add_argument("--responses", type=int, default=500_000)
        parser.add_argument("--audit", type=int, default=10_000_000)
        parser.add_argument("--seed", type=int, default=13)

    def handle(self, *args, **options):
        sizes = Sizes(
            clinics=max(1, options["clinics"]),
            patients=max(options["clinics"], options["patients"]),
            sessions=max(0, options["sessions"]),
            vitals=max(0, options["vitals"]),
            responses=max(0, options["responses"]),
            audit=max(0, options["audit"]),
        )
        timings = generate(sizes, seed=options["seed"], out=self.stderr)
        self.stdout.write(
            f"network built in {timings['total']:.0f} s: {sizes.clinics} clinics, "
            f"{sizes.patients:,} patients, {sizes.sessions:,} sessions, {sizes.vitals:,} vital "
            f"signs, {sizes.responses:,} responses, {sizes.audit:,} audit events"
        )
