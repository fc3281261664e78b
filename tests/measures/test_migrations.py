"""Upgrading keeps the links already e-mailed working (their token moves to LinkToken)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from ketaclinic.measures import services

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("measures", "0001_initial")]
AFTER = [("measures", "0003_drop_link_token_hash_alert_notified_response_results")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_a_link_sent_before_the_upgrade_still_opens_after_it(clinic, patient, latest_schema_after):
    old = migrate(BEFORE)
    now = timezone.now()
    raw = "sent-before-the-upgrade"
    old.get_model("measures", "QuestionnaireLink").objects.create(
        clinic_id=clinic.pk,
        patient_id=patient.pk,
        instruments=["phq9"],
        token_hash=services.hash_link_token(raw),
        created_at=now,
        expires_at=now + timedelta(hours=72),
        last_sent_at=now,
    )
    migrate(AFTER)
    link, state = services.find_link(raw)
    assert state == "valid" and link.patient_id == patient.pk
    assert link.tokens.count() == 1
