"""HTTPS by default outside debug, and nothing with patient data kept in a cache (issue 14)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.django_db

SECRET = "x7Gq!2vLp9#rT4wZ8mK1sD6fH3jN0bC5yU-aE_oI+eR"


def settings_in(env: dict[str, str]) -> tuple[str, str]:
    code = (
        "from ketaclinic import settings as s; print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS)"
    )
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("KETACLINIC_")} | env
    done = subprocess.run(
        [sys.executable, "-c", code], env=full_env, capture_output=True, text=True, check=True
    )
    redirect, hsts = done.stdout.split()
    return redirect, hsts


def test_production_redirects_to_https_and_sends_hsts_by_default():
    assert settings_in({"KETACLINIC_SECRET_KEY": SECRET}) == ("True", "31536000")


def test_a_proxy_that_terminates_tls_can_turn_the_redirect_and_hsts_off():
    env = {
        "KETACLINIC_SECRET_KEY": SECRET,
        "KETACLINIC_SECURE_SSL_REDIRECT": "0",
        "KETACLINIC_HSTS_SECONDS": "0",
    }
    assert settings_in(env) == ("False", "0")


def test_debug_mode_stays_on_plain_http():
    assert settings_in({"KETACLINIC_DEBUG": "1"}) == ("False", "0")


def test_plain_http_is_redirected_and_https_answers_carry_hsts(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    plain = client.get("/login/")
    assert plain.status_code == 301
    assert plain.headers["Location"] == "https://testserver/login/"
    secure = client.get("/login/", secure=True)
    assert secure.status_code == 200
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"
    # Behind a proxy that terminated TLS, its header marks the request as secure.
    proxied = client.get("/login/", headers={"X-Forwarded-Proto": "https"})
    assert proxied.status_code == 200


def test_pages_with_patient_data_are_never_stored(staff, patient, login):
    chart = login(staff["nurse"]).get(f"/patients/{patient.pk}/")
    assert chart.status_code == 200
    assert "no-store" in chart.headers["Cache-Control"]
    search = login(staff["front_desk"]).get("/patients/")
    assert "no-store" in search.headers["Cache-Control"]


def test_api_answers_are_never_stored_whatever_their_status(staff, patient, api_client):
    client = api_client(staff["nurse"])
    for response in (
        client.get(f"/api/v1/patients/{patient.pk}"),
        client.get("/api/v1/patients?q=Garcia"),
        client.get("/api/v1/patients/999999"),
        client.get("/api/v1/audit/events"),  # 403 for a nurse
    ):
        assert response.headers["Cache-Control"] == "no-store", response.status_code


def test_static_files_stay_cacheable(client):
    response = client.get("/static/ketaclinic/app.css")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")
