"""The demo's serious adverse event has complete MedWatch and REMS reports; liver tests are due."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from ketaclinic.treatment import ae_reports
from ketaclinic.treatment.longterm import monitoring_for_patient
from ketaclinic.treatment.models import AdverseEventReport, LiverTest

pytestmark = pytest.mark.django_db


def test_the_demo_event_has_complete_reports_and_a_patient_has_liver_tests_due():
    call_command("seed_demo", stdout=open("/dev/null", "w"))
    reports = {r.kind: r for r in AdverseEventReport.objects.all()}
    assert sorted(reports) == ["medwatch", "rems"]
    assert (reports["medwatch"].status, reports["rems"].status) == ("drafted", "submitted")
    for report in reports.values():
        assert report.event.serious
        assert ae_reports.missing(report) == []
        assert ae_reports.as_pdf(report).startswith(b"%PDF")
    [test] = LiverTest.objects.all()
    rows = monitoring_for_patient(test.patient)
    assert any(row.liver is not None and row.liver.due for row in rows)
