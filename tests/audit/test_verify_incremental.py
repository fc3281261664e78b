"""Verification from the last clean check (the routine run) and in full (on demand).

The routine run reads only what came after each chain's newest verified seal; both ways
must still name every alteration and removal they cover.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ketaclinic.audit.models import AuditCheckpoint, AuditEvent, AuditSeal
from ketaclinic.audit.services import seal_pending, verify
from tests.audit.test_audit import guard_lifted

pytestmark = pytest.mark.django_db


def _views(login, user, patient, times: int) -> list[AuditEvent]:
    client = login(user)
    before = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    for _ in range(times):
        client.get(f"/patients/{patient.pk}/")
    seal_pending()
    return list(AuditEvent.objects.filter(id__gt=before, action="view").order_by("id"))


def _verified(capsys) -> str:
    call_command("verify_audit")
    return capsys.readouterr().out


def test_the_routine_run_reads_only_what_came_after_the_last_clean_one(
    login, staff, patient, capsys
):
    _views(login, staff["nurse"], patient, 3)
    assert "audit log intact" in _verified(capsys)
    mark = AuditCheckpoint.objects.get(chain=staff["nurse"].clinic_id)
    newest = AuditSeal.objects.filter(chain=mark.chain).order_by("-seq").first()
    assert (mark.seal_seq, mark.seal_hash) == (newest.seq, newest.hash)
    out = _verified(capsys)
    assert "incremental verification: 0 event(s) and 0 seal(s)" in out
    marks = {m.chain: m.event_seq for m in AuditCheckpoint.objects.all()}
    new = _views(login, staff["nurse"], patient, 2)  # a log-in (chain 0) and two reads
    out = _verified(capsys)
    read = sum(
        AuditEvent.objects.filter(seq__gt=marks.get(chain, 0))
        .filter(**({"clinic_id": chain} if chain else {"clinic_id__isnull": True}))
        .count()
        for chain in {*marks, mark.chain}
    )
    assert read == len(new) + 1
    assert f"incremental verification: {read} event(s)" in out
    assert "audit log intact" in out


def test_the_routine_run_names_an_event_altered_after_the_last_clean_one(
    login, staff, patient, capsys
):
    _views(login, staff["nurse"], patient, 2)
    _verified(capsys)
    new = _views(login, staff["nurse"], patient, 2)
    with guard_lifted():
        AuditEvent.objects.filter(pk=new[0].pk).update(object_id="999")
    with pytest.raises(CommandError, match=f"event {new[0].pk}: content was altered"):
        call_command("verify_audit")
    # Nothing moves forward on a failed run: the next routine run still sees it.
    with pytest.raises(CommandError, match=f"event {new[0].pk}"):
        call_command("verify_audit")


def test_the_routine_run_names_the_newest_events_removed(login, staff, patient, capsys):
    _views(login, staff["nurse"], patient, 2)
    _verified(capsys)
    new = _views(login, staff["nurse"], patient, 2)
    with guard_lifted():
        AuditEvent.objects.filter(pk__gte=new[-1].pk, clinic_id=new[-1].clinic_id).delete()
    problems = [str(p) for p in verify(full=False)]
    assert any("missing: the newest events were removed" in p for p in problems), problems


def test_a_full_run_names_an_event_altered_before_the_last_clean_one(login, staff, patient, capsys):
    old = _views(login, staff["nurse"], patient, 2)
    _verified(capsys)
    _views(login, staff["nurse"], patient, 1)
    with guard_lifted():
        AuditEvent.objects.filter(pk=old[0].pk).update(username="someone-else")
    assert "audit log intact" in _verified(capsys)  # proven before: not read again
    with pytest.raises(CommandError, match=f"event {old[0].pk}: content was altered"):
        call_command("verify_audit", "--full")
    assert [str(p) for p in verify(full=True)][0] == (
        f"event {old[0].pk}: content was altered after it was written"
    )


def test_the_routine_run_notices_its_starting_seal_altered_or_removed(
    login, staff, patient, capsys
):
    _views(login, staff["nurse"], patient, 2)
    _verified(capsys)
    mark = AuditCheckpoint.objects.get(chain=staff["nurse"].clinic_id)
    with guard_lifted():
        AuditSeal.objects.filter(chain=mark.chain, seq=mark.seal_seq).update(hash="f" * 64)
    with pytest.raises(CommandError, match=f"seal {mark.chain}/{mark.seal_seq}: was altered"):
        call_command("verify_audit")


def test_a_full_run_and_a_routine_run_agree_on_a_clean_log(login, staff, patient, outsider):
    _views(login, staff["nurse"], patient, 3)
    _views(login, outsider, patient, 1)  # another clinic's chain (404s are audited too)
    assert verify(full=True) == []
    _views(login, staff["nurse"], patient, 2)
    assert verify(full=False) == []
    assert verify(full=True) == []


def test_the_audit_page_counts_a_bounded_number_of_events(login, staff, patient, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from ketaclinic.audit import views

    monkeypatch.setattr(views.BoundedPaginator, "CAP", 3)
    _views(login, staff["nurse"], patient, 3)
    admin = login(staff["admin"])
    with CaptureQueriesContext(connection) as queries:
        page = admin.get("/audit/").content.decode()
    counts = [
        q["sql"] for q in queries if "COUNT(" in q["sql"].upper() and "audit_auditevent" in q["sql"]
    ]
    assert counts and all("LIMIT 4" in sql for sql in counts)
    assert "Page 1 of 1+" in page


def test_the_nightly_check_is_incremental_once_a_day_and_reports_tampering(
    login, staff, patient, caplog
):
    from datetime import UTC, datetime, timedelta

    from ketaclinic.worker import jobs

    _views(login, staff["nurse"], patient, 2)
    night = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
    assert jobs.verify_audit_nightly(night.replace(hour=1)) == 0  # not before 02:00
    assert jobs.verify_audit_nightly(night) == 0
    assert AuditCheckpoint.objects.filter(chain=staff["nurse"].clinic_id).exists()
    new = _views(login, staff["nurse"], patient, 1)
    with guard_lifted():
        AuditEvent.objects.filter(pk=new[0].pk).update(action="export")
    assert jobs.verify_audit_nightly(night + timedelta(hours=1)) == 0  # once a day
    assert jobs.verify_audit_nightly(night + timedelta(days=1)) >= 1
    assert "audit log failed verification" in caplog.text
