"""Builders for screening records, written straight to the database for gate and page tests."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta

import pytest
from django.utils import timezone

from ketaclinic.screening.models import Consent, Screening


@pytest.fixture
def make_screening(staff):
    def _make(
        patient,
        *,
        protocol="ketamine-iv-mood",
        result="eligible",
        decision="",
        reason="",
        decided_at=None,
    ):
        doctor = staff["physician"].user
        return Screening.objects.create(
            clinic=patient.clinic,
            patient=patient,
            protocol=protocol,
            ruleset_version=1,
            facts={},
            result=result,
            findings=[],
            missing=[],
            created_by=doctor,
            decision=decision,
            decision_reason=reason,
            decided_by=doctor if decision else None,
            decided_by_name="Lena Chen" if decision else "",
            decided_at=(decided_at or timezone.now()) if decision else None,
        )

    return _make


@pytest.fixture
def make_consent(staff):
    def _make(
        patient,
        *,
        family="ketamine-iv-mood",
        signed_on=date(2026, 11, 20),
        expires_on=None,
        withdrawn=False,
        rems=False,
        cosigned=False,
    ):
        pdf = b"%PDF-1.4 test"
        signed_at = timezone.make_aware(
            datetime.combine(signed_on, datetime.min.time()) + timedelta(hours=15)
        )
        return Consent.objects.create(
            clinic=patient.clinic,
            patient=patient,
            family=family,
            template_key=family,
            template_version=1,
            title="t",
            text="x",
            risks=[],
            signed_name="Maria Garcia",
            signed_at=signed_at,
            signed_on=signed_on,
            via="tablet",
            expires_on=expires_on or signed_on.replace(year=signed_on.year + 1),
            rems_enrollment=rems,
            prescriber=staff["physician"].user if cosigned else None,
            prescriber_name="Lena Chen" if cosigned else "",
            prescriber_signed_at=signed_at if cosigned else None,
            pdf=pdf,
            pdf_sha256=hashlib.sha256(pdf).hexdigest(),
            withdrawn_at=signed_at + timedelta(days=1) if withdrawn else None,
        )

    return _make
