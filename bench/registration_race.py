"""Patients registered at the same moment through a real server: how many are refused?

Starts granian on a throw-away database (SQLite in a temp dir, or DATABASE_URL), then
sends REGISTRATIONS concurrent POST /api/v1/patients from THREADS threads on loopback and
prints refusals, distinct MRNs and latency. Issue 14 measured 26 of 96 refused on SQLite
and 42 of 96 on PostgreSQL before MRNs came from a per-clinic counter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _setup import django_on_scratch_db

PORT = int(os.environ.get("PORT", "8106"))
REGISTRATIONS = int(os.environ.get("REGISTRATIONS", "200"))
THREADS = int(os.environ.get("THREADS", "32"))


def main() -> None:
    django_on_scratch_db()
    from ketaclinic.accounts.models import ApiToken
    from ketaclinic.accounts.services import add_clinic, add_staff

    clinic = add_clinic(slug="race", name="Race", timezone="America/New_York")
    desk = add_staff(username="desk", clinic=clinic, role="front_desk", password="x" * 20)
    token = ApiToken.issue(desk, name="bench")[1]
    venv_bin = Path(sys.executable).parent
    server = subprocess.Popen(
        [str(venv_bin / "granian"), "--interface", "wsgi", "--host", "127.0.0.1"]
        + ["--port", str(PORT), "--workers", "2", "--blocking-threads", "16"]
        + ["ketaclinic.wsgi:application"],
        env=os.environ | {"KETACLINIC_SECURE_SSL_REDIRECT": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_server()
        outcomes = _race(token)
    finally:
        server.terminate()
        server.wait(timeout=10)
    statuses = [status for status, _, _ in outcomes]
    mrns = {mrn for status, mrn, _ in outcomes if status == 201}
    latencies = sorted(seconds for _, _, seconds in outcomes)
    refused = sum(1 for s in statuses if s != 201)
    print(f"registrations: {len(outcomes)} from {THREADS} threads")
    print(f"refused: {refused}  distinct MRNs: {len(mrns)}")
    print(
        f"p50 {latencies[len(latencies) // 2] * 1000:.0f} ms, p95 {latencies[int(len(latencies) * 0.95)] * 1000:.0f} ms"
    )
    if refused or len(mrns) != len(outcomes):
        sys.exit(1)


def _wait_for_server() -> None:
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{PORT}/login/", timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the server did not start")


def _race(token: str) -> list[tuple[int, str, float]]:
    def register(n: int) -> tuple[int, str, float]:
        body = {
            "given_name": f"Walk-in {n}",
            "family_name": "Race",
            "birth_date": "1990-05-01",
            "sex_at_birth": "female",
        }
        request = urllib.request.Request(
            f"http://127.0.0.1:{PORT}/api/v1/patients",
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.load(response)["mrn"], time.perf_counter() - started
        except urllib.error.HTTPError as error:
            return error.code, "", time.perf_counter() - started

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(register, range(REGISTRATIONS)))


if __name__ == "__main__":
    main()
