"""Helpers for measures tests: JSON posting, a physician with an e-mail address."""

from __future__ import annotations

import json

import pytest


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


PHQ9_URL = "/api/v1/patients/{}/measures"


@pytest.fixture
def doctor_email(staff):
    """Dr. Chen gets alert e-mails; other staff have no address (as in the fixtures)."""
    user = staff["physician"].user
    user.email = "chen@harbor.example"
    user.save(update_fields=["email"])
    return user.email
