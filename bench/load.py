"""Requests per second through the production server, as ratios to a reference (issue #13's table).

Starts granian (2 workers, debug off) with the worker beside it on the demo clinic, on a
throw-away SQLite database and then, when DATABASE_URL is set, on that PostgreSQL; drives
each endpoint with wrk (apt-get install wrk) at bounded concurrency on loopback, the
endpoints interleaved, ROUNDS rounds; each ratio is the median over the rounds of
(endpoint's requests/s ÷ its reference's in the same round). Prints every ratio with its
goal and PASS/FAIL, and the load average beside each round.

Run: .venv/bin/python bench/load.py   (DATABASE_URL=postgres://... adds PostgreSQL;
SECONDS=4 ROUNDS=3 CONNECTIONS=50 PORT=8140 THREADS=2 to change the load)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PORT = int(os.environ.get("PORT", "8140"))
SECONDS = int(os.environ.get("SECONDS_EACH", os.environ.get("SECONDS", "4")))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
CONNECTIONS = int(os.environ.get("CONNECTIONS", "50"))
WRITERS = 32
THREADS = os.environ.get("THREADS", "2")  # --blocking-threads per worker, as deployed
SECRET = "bench-load-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGH"
VITALS = json.dumps({"systolic": 122, "diastolic": 78, "heart_rate": 72, "spo2": 98})

# name, reference, goal
RATIOS = [
    ("no-op view with a staff session cookie", "no-op view without one", 0.8),
    ("patient chart", "no-op view with a staff session cookie", 0.3),
    ("session page", "no-op view with a staff session cookie", 0.5),
    ("session API", "no-op view with a staff session cookie", 0.5),
    ("chair board", "no-op view with a staff session cookie", 0.5),
    ("patient search", "no-op view with a staff session cookie", 0.5),
    ("vitals POST, 32 sessions", "bare insert, 32 writers", 0.5),
    ("vitals POST, 32 writers on one session", "bare insert, 32 writers", 0.25),
]


def _env(var_dir: Path, database_url: str) -> dict[str, str]:
    return os.environ | {
        "DATABASE_URL": database_url,
        "KETACLINIC_VAR_DIR": str(var_dir),
        "KETACLINIC_DEBUG": "0",
        "KETACLINIC_SECRET_KEY": SECRET,
        "KETACLINIC_BASE_URL": f"http://127.0.0.1:{PORT}",
        "KETACLINIC_SECURE_SSL_REDIRECT": "0",
        "KETACLINIC_API_REQUESTS_PER_MINUTE": "100000000",
        "KETACLINIC_EMAIL_URL": "none:",
        "KETACLINIC_BACKUP_DIR": "",
        "DJANGO_SETTINGS_MODULE": "loadserver.settings",
        "PYTHONPATH": os.pathsep.join([str(BENCH), str(ROOT / "src")]),
    }


def _prepare(env: dict[str, str]) -> dict[str, object]:
    """Migrate, seed the demo and make what the load needs; runs in a child process."""
    code = r"""
import json, django
django.setup()
from datetime import timedelta
from django.core.management import call_command
from django.db import connection
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client
from django.utils import timezone
call_command("migrate", verbosity=0)
call_command("seed_demo", verbosity=0)
from ketaclinic.accounts.models import ApiToken, Membership
from ketaclinic.audit import journal
from ketaclinic.treatment.models import TreatmentSession
from ketaclinic.patients.models import Patient
nurse = Membership.objects.get(user__username="nurse.okafor")
_, token = ApiToken.issue(nurse, name="bench-load")
client = Client()
client.force_login(nurse.user)
cookie = client.cookies["sessionid"].value
model = TreatmentSession.objects.filter(clinic=nurse.clinic).select_related("appointment").first()
now = timezone.now()
ids = []
for n in range(33):
    appointment = model.appointment
    appointment.pk = None
    appointment.id = None
    appointment.start = model.appointment.start - timedelta(days=400 + n)
    appointment.end = appointment.start + timedelta(hours=2)
    appointment.status = "in_progress"
    appointment.save()
    session = TreatmentSession.objects.get(pk=model.pk)
    session.pk = None
    session.id = None
    session.appointment = appointment
    session.state = "monitoring"
    session.started_at = now - timedelta(minutes=30)
    session.dose_started_at = now - timedelta(minutes=20)
    session.dose_ended_at = None
    session.discharged_at = None
    session.nurse_signed_at = session.nurse_signed_by = None
    session.physician_signed_at = session.physician_signed_by = None
    session.stop_reason = ""
    session.version = 1
    session.save()
    ids.append(session.pk)
with connection.cursor() as cursor:
    serial = "BIGSERIAL" if connection.vendor == "postgresql" else "INTEGER"
    cursor.execute(f"CREATE TABLE IF NOT EXISTS bench_row (id {serial} PRIMARY KEY, at TIMESTAMP, body TEXT)")
journal.drain()
print(json.dumps({"token": token, "cookie": cookie, "csrf": _get_new_csrf_string(),
    "patient": model.patient_id, "read_session": ids[-1], "sessions": ids[:32],
    "vendor": connection.vendor}))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _wait(port: int) -> None:
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the server did not start")


def _lua(folder: Path, name: str, method: str, paths: list[str], body: str | None) -> Path:
    script = folder / f"{name}.lua"
    quoted = ", ".join(json.dumps(p) for p in paths)
    body_lua = json.dumps(body) if body is not None else "nil"
    script.write_text(
        f"local paths = {{{quoted}}}\nlocal i = 0\nlocal body = {body_lua}\n"
        "request = function()\n  i = i % #paths + 1\n"
        f'  return wrk.format("{method}", paths[i], nil, body)\nend\n'
    )
    return script


def _endpoints(info: dict, folder: Path) -> dict[str, tuple[list[str], Path, int]]:
    cookie = f"sessionid={info['cookie']}; csrftoken={info['csrf']}"
    with_cookie = ["-H", f"Cookie: {cookie}"]
    token = ["-H", f"Authorization: Bearer {info['token']}", "-H", "Content-Type: application/json"]
    sessions = [f"/api/v1/sessions/{s}/vitals" for s in info["sessions"]]
    one = sessions[:1]
    get = lambda name, path: _lua(folder, name, "GET", [path], None)  # noqa: E731
    search = [
        "-H",
        f"X-CSRFToken: {info['csrf']}",
        "-H",
        "Content-Type: application/x-www-form-urlencoded",
    ]
    return {
        "no-op view without one": ([], get("noop", "/healthz"), CONNECTIONS),
        "no-op view with a staff session cookie": (
            with_cookie,
            get("noop", "/healthz"),
            CONNECTIONS,
        ),
        # Not in the table: the floor of any signed-in page (session, user, membership
        # and clinic read; a no-op view with a cookie reads none of them), printed for scale.
        "signed-in no-op (GET /api/v1/clinic)": (
            with_cookie,
            get("clinic", "/api/v1/clinic"),
            CONNECTIONS,
        ),
        "patient chart": (with_cookie, get("chart", f"/patients/{info['patient']}/"), CONNECTIONS),
        "session page": (
            with_cookie,
            get("page", f"/treatment/sessions/{info['read_session']}/"),
            CONNECTIONS,
        ),
        "session API": (
            with_cookie,
            get("api", f"/api/v1/sessions/{info['read_session']}"),
            CONNECTIONS,
        ),
        "chair board": (with_cookie, get("board", "/treatment/board/"), CONNECTIONS),
        "patient search": (
            with_cookie + search,
            _lua(folder, "search", "POST", ["/patients/"], "q=ga"),
            CONNECTIONS,
        ),
        "bare insert, 32 writers": (
            [],
            _lua(folder, "insert", "POST", ["/bench/insert"], VITALS),
            WRITERS,
        ),
        "vitals POST, 32 sessions": (
            token,
            _lua(folder, "vitals32", "POST", sessions, VITALS),
            WRITERS,
        ),
        "vitals POST, 32 writers on one session": (
            token,
            _lua(folder, "vitals1", "POST", one, VITALS),
            WRITERS,
        ),
    }


def _settle() -> None:
    """Wait until the server has finished what the last run left queued (at most a minute)."""
    for _ in range(600):
        started = time.perf_counter()
        urllib.request.urlopen(f"http://127.0.0.1:{PORT}/healthz", timeout=60).read()
        if time.perf_counter() - started < 0.05:
            return
        time.sleep(0.1)


def _wrk(headers: list[str], script: Path, connections: int) -> tuple[float, int]:
    """Requests/s and non-2xx/3xx answers over SECONDS with `connections` open."""
    _settle()
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{SECONDS}s", "--timeout", "30s", "-s", str(script)]
        + headers
        + [f"http://127.0.0.1:{PORT}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = float(next(line for line in out.splitlines() if "Requests/sec" in line).split()[-1])
    if rate == 0:
        print(f"no answers in {SECONDS} s: the server is too slow at this load", file=sys.stderr)
        rate = 1 / SECONDS  # under one answer in the window: a ratio still prints
    bad = 0
    for line in out.splitlines():
        if "Non-2xx or 3xx responses" in line:
            bad = int(line.split()[-1])
    return rate, bad


def _measure(database_url: str, label: str) -> bool:
    var_dir = Path(tempfile.mkdtemp(prefix="ketaclinic-load-"))
    env = _env(var_dir, database_url)
    print(f"== {label}: preparing the demo clinic", flush=True)
    info = _prepare(env)
    venv_bin = Path(sys.executable).parent
    server = subprocess.Popen(
        [str(venv_bin / "granian"), "--interface", "wsgi", "--host", "127.0.0.1"]
        + ["--port", str(PORT), "--workers", "2", "--blocking-threads", THREADS]
        + ["ketaclinic.wsgi:application"],
        env=env,
        stdout=open(var_dir / "server.log", "w"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "ketaclinic", "worker", "--every", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(var_dir / "worker.log", "w"),  # noqa: SIM115
        start_new_session=True,
    )
    rates: dict[str, list[float]] = {}
    try:
        _wait(PORT)
        endpoints = _endpoints(info, var_dir)
        if only := os.environ.get("ONLY"):  # e.g. ONLY=no-op for a quick look
            endpoints = {k: v for k, v in endpoints.items() if any(w in k for w in only.split(","))}
        for headers, script, connections in endpoints.values():  # warm both workers
            subprocess.run(
                ["wrk", "-t1", f"-c{connections}", "-d1s", "-s", str(script), *headers]
                + [f"http://127.0.0.1:{PORT}"],
                capture_output=True,
                check=True,
            )
            _settle()
        for round_ in range(1, ROUNDS + 1):
            print(f"round {round_} (load average {os.getloadavg()[0]:.2f})", flush=True)
            for name, (headers, script, connections) in endpoints.items():
                rate, bad = _wrk(headers, script, connections)
                rates.setdefault(name, []).append(rate)
                flag = f"  ({bad} answers not 2xx/3xx!)" if bad else ""
                print(f"  {name:<42} {rate:9.1f} req/s  c={connections}{flag}", flush=True)
    finally:
        for process in (server, worker):
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
    ok = True
    print(f"-- {label} ({info['vendor']}), median of {ROUNDS} rounds of per-round ratios:")
    for name, reference, goal in RATIOS:
        if name not in rates or reference not in rates:
            continue
        ratio = statistics.median(a / b for a, b in zip(rates[name], rates[reference], strict=True))
        passed = ratio >= goal
        ok &= passed
        print(
            f"  {name} ÷ {reference}: {ratio:.2f} (goal ≥ {goal})  {'PASS' if passed else 'FAIL'}"
        )
    floor = "signed-in no-op (GET /api/v1/clinic)"
    if floor in rates:
        for name, _, _ in RATIOS[1:6]:
            if name in rates:
                ratio = statistics.median(
                    a / b for a, b in zip(rates[name], rates[floor], strict=True)
                )
                print(f"  for scale, no goal: {name} ÷ {floor}: {ratio:.2f}")
    print(f"   load average after: {os.getloadavg()}")
    shutil.rmtree(var_dir, ignore_errors=True)
    return ok


def main() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("bench/load.py needs wrk: apt-get install wrk")
    scratch = Path(tempfile.mkdtemp(prefix="ketaclinic-load-db-"))
    results = [_measure(f"sqlite:///{scratch / 'load.sqlite3'}", "SQLite (WAL)")]
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        results.append(_measure(os.environ["DATABASE_URL"], "PostgreSQL"))
    shutil.rmtree(scratch, ignore_errors=True)
    # A figure, not a test: report every ratio, fail `make bench` only if the server broke.
    print("all goals met" if all(results) else "some goals not met (see FAIL above)")


if __name__ == "__main__":
    main()
