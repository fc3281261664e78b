"""A soak on loopback: does the server stay error-free, fast and flat in memory for 30 minutes?

Starts granian and the worker on a throw-away database (SQLite in a temp dir, or
DATABASE_URL) holding the demo clinic, then sends a steady mix of requests as a physician
would (API patient search and reads, the chart page, the chair board, a registration now
and then) from a few threads at a bounded rate. Every interval it prints the requests, the
errors (5xx, 4xx other than expected, refused connections), p50/p95 latency and the
server's resident memory (granian and its workers). At the end: the totals and whether
memory plateaued (the second half grew by less than 10 %).

    .venv/bin/python bench/soak.py               # 30 minutes (issue 14)
    .venv/bin/python bench/soak.py --minutes 2 --interval 15

Issue 14's 3-minute probe saw 330 -> 403 MB and still climbing.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from _setup import django_on_scratch_db

PASSWORD = "ketaclinic-demo"


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            child = int(stat.parent.name)
            found += [child, *_children(child)]
    return found


def rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MB."""
    total = 0
    for each in [pid, *_children(pid)]:
        try:
            status = Path(f"/proc/{each}/status").read_text()
        except OSError:
            continue
        found = re.search(r"VmRSS:\s+(\d+) kB", status)
        total += int(found.group(1)) if found else 0
    return total / 1024


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.requests = 0
        self.errors: dict[str, int] = {}

    def add(self, seconds: float, error: str | None) -> None:
        with self.lock:
            self.requests += 1
            self.latencies.append(seconds)
            if error:
                self.errors[error] = self.errors.get(error, 0) + 1

    def take(self) -> tuple[int, list[float], dict[str, int]]:
        with self.lock:
            taken = (self.requests, self.latencies, self.errors)
            self.latencies, self.requests, self.errors = [], 0, {}
            return taken


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between reports")
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second in all")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8107")))
    args = parser.parse_args()

    django_on_scratch_db()
    import requests
    from django.core.management import call_command

    from ketaclinic.accounts.models import ApiToken, Membership
    from ketaclinic.patients.models import Patient

    started = time.monotonic()
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    chen = Membership.objects.select_related("clinic").get(user__username="dr.chen")
    token = ApiToken.issue(chen, name="soak")[1]
    patient_ids = list(
        Patient.objects.filter(clinic=chen.clinic, restricted=False).values_list("pk", flat=True)
    )
    print(f"demo clinic seeded in {time.monotonic() - started:.0f} s ({len(patient_ids)} patients)")

    env = os.environ | {
        "KETACLINIC_SECURE_SSL_REDIRECT": "0",
        # The soak measures the server, not the per-token limit (600 a minute by default).
        "KETACLINIC_API_REQUESTS_PER_MINUTE": "1000000",
        "KETACLINIC_EMAIL_URL": "none:",
    }
    venv_bin = Path(sys.executable).parent
    base = f"http://127.0.0.1:{args.port}"
    server = subprocess.Popen(  # noqa: S603
        [str(venv_bin / "granian"), "--interface", "wsgi", "--host", "127.0.0.1"]
        + ["--port", str(args.port), "--workers", "1", "--blocking-threads", "8"]
        + ["ketaclinic.wsgi:application"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "ketaclinic", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stats = Stats()
    stop = threading.Event()
    try:
        for _ in range(150):
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        else:
            sys.exit("the server did not start")

        def browser() -> requests.Session:
            session = requests.Session()
            session.get(f"{base}/login/", timeout=10)
            session.post(
                f"{base}/login/",
                data={
                    "username": "dr.chen",
                    "password": PASSWORD,
                    "csrfmiddlewaretoken": session.cookies["csrftoken"],
                },
                headers={"Referer": f"{base}/login/"},
                timeout=10,
            )
            return session

        def load(seed: int) -> None:
            rng = random.Random(seed)  # noqa: S311 - a request mix, not cryptography
            api = requests.Session()
            api.headers["Authorization"] = f"Bearer {token}"
            pages = browser()
            pause = args.threads / args.rate
            count = 0
            while not stop.is_set():
                count += 1
                roll = rng.random()
                pk = rng.choice(patient_ids)
                began = time.perf_counter()
                error = None
                try:
                    if roll < 0.30:
                        reply = api.get(f"{base}/api/v1/patients/{pk}", timeout=30)
                    elif roll < 0.50:
                        query = rng.choice(["ga", "mar", "li", "MRN0000", "ch"])
                        reply = api.get(f"{base}/api/v1/patients", params={"q": query}, timeout=30)
                    elif roll < 0.75:
                        reply = pages.get(f"{base}/patients/{pk}/", timeout=30)
                    elif roll < 0.90:
                        reply = pages.get(f"{base}/treatment/board/", timeout=30)
                    elif roll < 0.97:
                        reply = pages.get(f"{base}/schedule/", timeout=30)
                    else:
                        reply = api.post(
                            f"{base}/api/v1/patients",
                            json={
                                "given_name": "Soak",
                                "family_name": f"Test{seed}x{count}",
                                "birth_date": "1980-01-01",
                                "sex_at_birth": "female",
                            },
                            timeout=30,
                        )
                    if reply.status_code >= 400 or "/login/" in reply.url:
                        error = f"{reply.status_code} {reply.request.method} {reply.url.split('?')[0].replace(base, '')}"
                        error = re.sub(r"/\d+", "/<id>", error)
                except requests.RequestException as exc:
                    error = type(exc).__name__
                stats.add(time.perf_counter() - began, error)
                stop.wait(max(0.0, pause - (time.perf_counter() - began)))

        threads = [
            threading.Thread(target=load, args=(n,), daemon=True) for n in range(args.threads)
        ]
        for thread in threads:
            thread.start()
        print(f"soak: {args.minutes:g} min at ~{args.rate:g} req/s from {args.threads} threads")
        print(
            f"{'min':>6} {'requests':>9} {'errors':>7} {'p50 ms':>7} {'p95 ms':>7} {'server MB':>10}"
        )
        total_requests, total_errors = 0, {}
        every: list[float] = []
        memory: list[float] = [rss_mb(server.pid)]
        end = time.monotonic() + args.minutes * 60
        soak_start = time.monotonic()
        while time.monotonic() < end:
            time.sleep(min(args.interval, max(0.0, end - time.monotonic())))
            count, latencies, errors = stats.take()
            total_requests += count
            every += latencies
            for key, value in errors.items():
                total_errors[key] = total_errors.get(key, 0) + value
            memory.append(rss_mb(server.pid))
            elapsed = (time.monotonic() - soak_start) / 60
            print(
                f"{elapsed:6.1f} {count:9d} {sum(errors.values()):7d} "
                f"{percentile(latencies, 0.5) * 1000:7.0f} {percentile(latencies, 0.95) * 1000:7.0f} "
                f"{memory[-1]:10.0f}",
                flush=True,
            )
        stop.set()
        for thread in threads:
            thread.join(30)
    finally:
        for proc in (server, worker):
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    half = memory[len(memory) // 2]
    growth = (memory[-1] - half) / half * 100 if half else 0.0
    print(f"requests: {total_requests}, errors: {sum(total_errors.values())}")
    for key, value in sorted(total_errors.items(), key=lambda kv: -kv[1])[:10]:
        print(f"  {value:6d}  {key}")
    print(
        f"p50 {percentile(every, 0.5) * 1000:.0f} ms, p95 {percentile(every, 0.95) * 1000:.0f} ms"
    )
    print(
        f"server memory: {memory[0]:.0f} MB at start, {half:.0f} MB at half time, "
        f"{memory[-1]:.0f} MB at the end ({growth:+.1f} % over the second half: "
        f"{'plateau' if growth < 10 else 'STILL CLIMBING'})"
    )
    if total_errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
