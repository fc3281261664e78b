from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ketaclinic.settings import email_settings

pytestmark = pytest.mark.django_db


# What production needs to start: a real secret and the address patients' links use.
SAFE = {
    "KETACLINIC_SECRET_KEY": "x7Gq!2vLp9#rT4wZ8mK1sD6fH3jN0bC5yU-aE_oI+eR",
    "KETACLINIC_BASE_URL": "https://clinic.example.org",
}


def run_wsgi(env: dict[str, str]) -> subprocess.CompletedProcess:
    code = "import ketaclinic.wsgi"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("KETACLINIC_")} | env
    return subprocess.run(
        [sys.executable, "-c", code], env=full_env, capture_output=True, text=True, check=False
    )


def test_production_mode_refuses_to_start_without_a_real_secret():
    refused = run_wsgi({})
    assert refused.returncode != 0
    assert "KETACLINIC_SECRET_KEY is not set" in refused.stderr
    short = run_wsgi({"KETACLINIC_SECRET_KEY": "short"})
    assert "too short" in short.stderr
    ok = run_wsgi(SAFE)
    assert ok.returncode == 0, ok.stderr
    assert run_wsgi({"KETACLINIC_DEBUG": "1"}).returncode == 0


def test_production_mode_refuses_to_write_e_mails_into_the_log():
    secret = SAFE
    refused = run_wsgi(secret | {"KETACLINIC_EMAIL_URL": "console:"})
    assert refused.returncode != 0 and "patient names" in refused.stderr
    # Unset, production sends nothing (and `check --deploy` warns); debug prints demo mail.
    assert run_wsgi(secret).returncode == 0
    assert run_wsgi({"KETACLINIC_DEBUG": "1", "KETACLINIC_EMAIL_URL": "console:"}).returncode == 0


def test_production_mode_refuses_to_start_without_the_base_url_for_links():
    secret = {"KETACLINIC_SECRET_KEY": SAFE["KETACLINIC_SECRET_KEY"]}
    refused = run_wsgi(secret)
    assert refused.returncode != 0
    assert "KETACLINIC_BASE_URL is not set" in refused.stderr
    odd = run_wsgi(secret | {"KETACLINIC_BASE_URL": "clinic.example.org"})
    assert odd.returncode != 0 and "must start with https://" in odd.stderr
    assert run_wsgi(SAFE).returncode == 0
    # A laptop in debug mode links to the local server.
    assert run_wsgi({"KETACLINIC_DEBUG": "1"}).returncode == 0


def test_links_in_e_mails_use_the_base_url_not_the_request_host(settings):
    from ketaclinic.links import absolute_url

    settings.KETACLINIC_BASE_URL = "https://clinic.example.org/"
    assert absolute_url("/intake/abc/") == "https://clinic.example.org/intake/abc/"
    settings.KETACLINIC_BASE_URL = ""
    assert absolute_url("/intake/abc/") == "http://127.0.0.1:8000/intake/abc/"


def test_make_run_derives_the_base_url_from_the_port():
    from pathlib import Path

    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    assert "run: export KETACLINIC_BASE_URL ?= http://127.0.0.1:$(PORT)" in makefile


def test_pages_carry_a_content_security_policy_and_secure_cookies(client, staff):
    response = client.get("/login/")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert response.cookies["csrftoken"]["secure"] is True
    logged_in = client.post("/login/", {"username": "okafor", "password": "correct-horse-battery"})
    cookie = logged_in.cookies["sessionid"]
    assert cookie["secure"] is True and cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"


def test_passwords_are_hashed_with_argon2():
    from ketaclinic import settings as project_settings

    assert project_settings.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")


def test_email_url_is_parsed():
    smtp = email_settings("smtp://user:p%40ss@mail.example.org:2525?from=clinic@example.org")
    assert smtp["EMAIL_HOST"] == "mail.example.org" and smtp["EMAIL_PORT"] == 2525
    assert (
        smtp["EMAIL_HOST_PASSWORD"] == "p@ss" and smtp["DEFAULT_FROM_EMAIL"] == "clinic@example.org"
    )
    with pytest.raises(ValueError, match="KETACLINIC_EMAIL_URL"):
        email_settings("carrier-pigeon://coop")


def test_seed_demo_is_idempotent():
    from django.apps import apps
    from django.core.management import call_command

    from ketaclinic.accounts.models import Membership
    from ketaclinic.outcomes import demo as outcomes_demo
    from ketaclinic.patients.models import Patient

    def rows() -> dict[str, int]:
        return {m._meta.label: m.objects.count() for m in apps.get_models() if m._meta.managed}

    call_command("seed_demo", stdout=open(os.devnull, "w"))
    first = rows()
    call_command("seed_demo", stdout=open(os.devnull, "w"))
    # Not a row more in any table (`make run` seeds on every start).
    assert {label: n for label, n in rows().items() if n != first[label]} == {}
    # 30 patients of today, the outcomes demo's past patients, and one restricted chart.
    assert Patient.objects.filter(clinic__slug="harbor").count() == 30 + outcomes_demo.PATIENTS + 1
    roles = set(Membership.objects.filter(clinic__slug="harbor").values_list("role", flat=True))
    assert roles == {
        "admin",
        "physician",
        "nurse",
        "therapist",
        "front_desk",
        "biller",
        "editor",
        "patient",
    }


def test_the_sender_of_every_e_mail_comes_from_ketaclinic_email_from():
    def sender(env: dict[str, str]) -> str:
        code = "from django.conf import settings as s; print(s.DEFAULT_FROM_EMAIL, s.SERVER_EMAIL)"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("KETACLINIC_")}
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                "import django, os; os.environ.setdefault("
                "'DJANGO_SETTINGS_MODULE', 'ketaclinic.settings'); django.setup(); " + code,
            ],
            env=full_env | {"KETACLINIC_DEBUG": "1"} | env,
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout.strip()

    named = "Harbor Light <care@harbor.example>"
    assert sender({"KETACLINIC_EMAIL_FROM": named}) == f"{named} {named}"
    url = "smtp://mail.example.org?from=url@example.org"
    assert sender({"KETACLINIC_EMAIL_URL": url}) == "url@example.org url@example.org"
    assert sender({"KETACLINIC_EMAIL_URL": url, "KETACLINIC_EMAIL_FROM": named}).startswith(named)
    assert sender({}) == "ketaclinic@localhost ketaclinic@localhost"
