"""Page times on a clinic network: search, chart, board, outcomes, ledger and audit pages.

Uses the database in DATABASE_URL as it is when it already holds a network built by
`python -m ketaclinic generate_network` (the issue #13 size: --clinics 50 --patients 50000
--sessions 500000 --vitals 2000000 --responses 500000 --audit 10000000); otherwise builds
a small one (NETWORK_SCALE, default 0.01 of that size) in a throw-away database.
Each page: one warm-up, then the median and worst of 7 requests through Django's test
client (no network, no server: the view, its queries and the template), with its query
count. Goal: every page under 200 ms. Then EXPLAIN of the slowest single query seen.

Run: DATABASE_URL=postgres://.../kc_network .venv/bin/python bench/network.py
"""

from __future__ import annotations

import io
import os
import statistics
import time

from _setup import django_on_scratch_db

django_on_scratch_db()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from ketaclinic.accounts.models import Clinic, Membership  # noqa: E402
from ketaclinic.audit.models import AuditEvent  # noqa: E402
from ketaclinic.demo.network import Sizes, generate  # noqa: E402
from ketaclinic.inventory.models import LedgerEntry  # noqa: E402
from ketaclinic.patients.models import Patient  # noqa: E402
from ketaclinic.treatment.models import TreatmentSession  # noqa: E402

ROUNDS = 7
settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]


def load() -> str:
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


if not Clinic.objects.filter(slug__startswith="network-").exists():
    scale = float(os.environ.get("NETWORK_SCALE", "0.01"))
    sizes = Sizes(
        clinics=max(1, round(50 * scale)), patients=round(50_000 * scale),
        sessions=round(500_000 * scale), vitals=round(2_000_000 * scale),
        responses=round(500_000 * scale), audit=round(10_000_000 * scale),
    )  # fmt: skip
    print(f"building a network at {scale} of the issue's size: {sizes}")
    timings = generate(sizes, out=io.StringIO())
    print(f"  built in {timings['total']:.0f} s [{load()}]")

clinic = Clinic.objects.filter(slug__startswith="network-").order_by("slug").first()
assert clinic is not None
counts = {
    "clinics": Clinic.objects.filter(slug__startswith="network-").count(),
    "patients": Patient.objects.count(),
    "sessions": TreatmentSession.objects.count(),
    "ledger entries": LedgerEntry.objects.count(),
    "audit events": AuditEvent.objects.count(),
}
print(f"{connection.vendor}: " + ", ".join(f"{v:,} {k}" for k, v in counts.items()))


def member(role: str) -> Client:
    membership = Membership.objects.filter(clinic=clinic, role=role).order_by("id").first()
    assert membership is not None, role
    client = Client()
    client.force_login(membership.user)
    return client


physician, nurse, admin = member("physician"), member("nurse"), member("admin")
busiest = (
    TreatmentSession.objects.filter(clinic=clinic)
    .values("patient_id")
    .annotate(n=Count("id"))
    .order_by("-n")
    .first()
)
patient = Patient.objects.get(pk=busiest["patient_id"])
middle = (LedgerEntry.objects.filter(clinic=clinic).order_by("-id").values_list("id", flat=True))[
    LedgerEntry.objects.filter(clinic=clinic).count() // 2
]

PAGES = [
    ("search (family name prefix)", physician, "post", "/patients/", {"q": patient.family_name[:3]}),
    ("search (MRN)", physician, "post", "/patients/", {"q": patient.mrn}),
    (f"chart ({busiest['n']} sessions)", physician, "get", f"/patients/{patient.pk}/", None),
    ("treatment board", nurse, "get", "/treatment/board/", None),
    ("day schedule", nurse, "get", "/schedule/", None),
    ("outcomes", physician, "get", "/outcomes/", None),
    ("ledger, newest", nurse, "get", "/inventory/", None),
    ("ledger, half-way back", nurse, "get", f"/inventory/?before={middle}", None),
    ("audit log", admin, "get", "/audit/", None),
    ("audit log, one patient", admin, "get", f"/audit/?patient={patient.pk}", None),
]  # fmt: skip

slowest: tuple[float, str, str] = (0.0, "", "")
print(f"{'page':<34} {'median':>8} {'worst':>8} {'queries':>8}   [{load()}]")
for label, client, method, url, data in PAGES:
    send = getattr(client, method)
    first = send(url, data) if data else send(url)
    if first.status_code != 200:
        print(f"{label:<34} answered {first.status_code}")
        continue
    times = []
    for _ in range(ROUNDS):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            send(url, data) if data else send(url)
            times.append((time.perf_counter() - started) * 1000)
    top = max(queries, key=lambda q: float(q["time"]), default=None)
    top_ms = float(top["time"]) * 1000 if top else 0.0
    for q in queries:
        if float(q["time"]) > slowest[0] and q["sql"].lstrip().upper().startswith("SELECT"):
            slowest = (float(q["time"]), label, q["sql"])
    median, worst = statistics.median(times), max(times)
    flag = "" if worst < 200 else "  <-- over 200 ms"
    print(
        f"{label:<34} {median:7.1f}ms {worst:7.1f}ms {len(queries):>8}   slowest query "
        f"{top_ms:5.1f} ms{flag}"
    )
    if os.environ.get("NETWORK_SHOW_QUERIES") and top:
        print(f"    {top['sql'][:300]}")

seconds, label, sql = slowest
if not sql:
    raise SystemExit("no page answered 200")
print(f"\nslowest query ({seconds * 1000:.1f} ms, on '{label}'):\n  {sql[:600]}")
with connection.cursor() as cursor:
    if connection.vendor == "postgresql":
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
    else:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
    for row in cursor.fetchall():
        print("  " + " | ".join(str(c) for c in row))
print(f"[{load()}]")
