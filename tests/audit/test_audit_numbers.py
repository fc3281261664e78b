"""Every event is numbered in its clinic's chain: a missing event is found even before sealing.

The anchor (each new seal's head) also goes off the machine: a file on another mount or a
syslog collector; administrators are warned when sealing stalls or the anchor stays local.
"""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from ketaclinic import checks
from ketaclinic.audit import anchor
from ketaclinic.audit.models import AuditChain, AuditEvent, AuditSeal, Heartbeat
from ketaclinic.audit.services import health_warnings, seal_pending, verify
from tests.audit.test_audit import _refused, guard_lifted

pytestmark = pytest.mark.django_db


def _views(login, staff, patient, n=3) -> list[AuditEvent]:
    client = login(staff["nurse"])
    for _ in range(n):
        client.get(f"/patients/{patient.pk}/")
    return list(AuditEvent.objects.filter(clinic=patient.clinic).order_by("seq"))


def test_each_clinic_numbers_its_events_one_by_one(login, staff, patient, outsider):
    events = _views(login, staff, patient)
    login(outsider).get("/patients/")
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    other = AuditEvent.objects.get(clinic=outsider.clinic, action="search")
    assert other.seq == 1
    head = AuditChain.objects.get(chain=patient.clinic_id)
    assert (head.seq, head.head) == (events[-1].seq, events[-1].link)
    assert verify() == []


def test_a_deleted_event_not_yet_sealed_is_detected(login, staff, patient):
    events = _views(login, staff, patient)
    assert not AuditSeal.objects.exists()
    gone, after = events[1], events[2]
    with guard_lifted():
        AuditEvent.objects.filter(pk=gone.pk).delete()
    assert [str(p) for p in verify()] == [
        f"chain {patient.clinic_id}: event {gone.seq} is missing (the gap is before event {after.pk})"
    ]


def test_the_newest_events_deleted_before_sealing_are_detected(login, staff, patient):
    events = _views(login, staff, patient)
    with guard_lifted():
        AuditEvent.objects.filter(pk__in=[e.pk for e in events[-2:]]).delete()
    assert [str(p) for p in verify()] == [
        f"chain {patient.clinic_id}: events {events[-2].seq}–{events[-1].seq} are missing: "
        "the newest events were removed"
    ]


def test_an_event_moved_to_another_place_in_the_chain_is_detected(login, staff, patient):
    events = _views(login, staff, patient)
    with guard_lifted():
        AuditEvent.objects.filter(pk=events[0].pk).update(seq=99)
        AuditEvent.objects.filter(pk=events[1].pk).update(seq=1)
    assert verify() != []


def test_a_rolled_back_change_leaves_no_gap(login, staff, patient):
    from ketaclinic.accounts.access import Actor
    from ketaclinic.audit.services import record

    actor = Actor(user=staff["nurse"].user, membership=staff["nurse"], ip="127.0.0.1")
    record(actor, "view", patient_id=patient.pk, obj=patient)
    with pytest.raises(RuntimeError), transaction.atomic():
        record(actor, "update", patient_id=patient.pk, obj=patient)
        raise RuntimeError("the change failed")
    record(actor, "view", patient_id=patient.pk, obj=patient)
    seqs = list(AuditEvent.objects.filter(clinic=patient.clinic).values_list("seq", "action"))
    assert sorted(seqs) == [(1, "view"), (2, "view")]
    assert verify() == []


def test_the_database_refuses_to_rewind_or_remove_a_chain_head(login, staff, patient):
    _views(login, staff, patient)
    head = AuditChain.objects.get(chain=patient.clinic_id)
    _refused("UPDATE audit_auditchain SET seq = seq - 1 WHERE id = %s", [head.pk])
    _refused("UPDATE audit_auditchain SET seq = seq + 1, chain = 77 WHERE id = %s", [head.pk])
    _refused("DELETE FROM audit_auditchain WHERE id = %s", [head.pk])
    assert AuditChain.objects.get(pk=head.pk).seq == head.seq


def test_sealed_and_unsealed_events_verify_together(login, staff, patient):
    _views(login, staff, patient, 2)
    seal_pending()
    events = _views(login, staff, patient, 2)
    with guard_lifted():
        AuditEvent.objects.filter(pk=events[-1].pk).delete()
    assert [str(p) for p in verify()][0].startswith(f"chain {patient.clinic_id}: event 4 is")


# ------------------------------------------------------------------------- the anchor


class UdpCollector:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(5)
        self.port = self.sock.getsockname()[1]

    def receive(self, n: int) -> list[str]:
        return [self.sock.recv(4096).decode() for _ in range(n)]


class TcpCollector:
    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.server.settimeout(5)
        self.received: list[str] = []

    def receive(self, n: int) -> list[str]:
        """What n connections sent (one per seal), each read to its end."""
        for _ in range(n):
            connection, _ = self.server.accept()
            with connection:
                data = b""
                while chunk := connection.recv(4096):
                    data += chunk
                self.received.append(data.decode())
        self.server.close()
        return self.received


def test_each_seal_is_anchored_to_a_file_elsewhere_and_to_syslog_collectors(
    login, staff, patient, settings, tmp_path, django_capture_on_commit_callbacks
):
    udp, tcp = UdpCollector(), TcpCollector()
    copy = tmp_path / "other-mount" / "anchor.log"
    settings.AUDIT_ANCHOR_COPIES = [
        f"file://{copy}",
        f"syslog://127.0.0.1:{udp.port}",
        f"syslog+tcp://127.0.0.1:{tcp.port}",
    ]
    _views(login, staff, patient, 1)
    with django_capture_on_commit_callbacks(execute=True):
        seal_pending()
    seal = AuditSeal.objects.get(chain=patient.clinic_id)
    line = f"{seal.chain} {seal.seq} {seal.hash}"
    assert copy.read_text() == settings.AUDIT_ANCHOR.read_text()
    assert line in copy.read_text().splitlines()
    seals = AuditSeal.objects.count()  # this clinic's and the log-ins' (chain 0)
    assert f"<86>{anchor.TAG}: {line}" in udp.receive(seals)
    assert f"<86>{anchor.TAG}: {line}\n" in tcp.receive(seals)


def test_verify_against_a_collected_copy_sees_the_newest_seal_removed(
    login, staff, patient, settings, tmp_path, django_capture_on_commit_callbacks
):
    """The local anchor file was deleted with the newest seal; the collector's copy tells."""
    udp = UdpCollector()
    settings.AUDIT_ANCHOR_COPIES = [f"syslog://127.0.0.1:{udp.port}"]
    _views(login, staff, patient, 1)
    with django_capture_on_commit_callbacks(execute=True):
        seal_pending()
    collected = tmp_path / "collector.log"
    received = udp.receive(AuditSeal.objects.count())
    collected.write_text("".join(f"Dec  6 18:00:00 app1 {line}\n" for line in received))
    newest = AuditSeal.objects.get(chain=patient.clinic_id)
    with guard_lifted():
        AuditEvent.objects.filter(clinic_id=newest.chain, seq__gte=newest.first_seq).delete()
        AuditSeal.objects.filter(pk=newest.pk).delete()
        AuditChain.objects.filter(chain=patient.clinic_id).delete()
    settings.AUDIT_ANCHOR.unlink()
    assert verify() == []  # the database and the local file alone no longer tell
    assert [str(p) for p in verify(collected)] == [
        f"seal {newest.chain}/{newest.seq}: is anchored but missing: the newest events were removed"
    ]


# --------------------------------------------------------------------------- warnings


def test_admins_and_check_are_warned_when_sealing_stalls(login, staff, patient, settings):
    settings.DEBUG = True  # production's other warning (the anchor) is tested below
    _views(login, staff, patient, 1)
    seal_pending()
    assert health_warnings() == []
    Heartbeat.objects.filter(name="seal").update(at=timezone.now() - timedelta(minutes=6))
    [warning] = health_warnings()
    assert warning.startswith("Audit events have not been sealed since ")
    assert [w.id for w in checks.check_audit_trail(None)] == ["ketaclinic.W002"]
    page = login(staff["admin"]).get("/staff/").content.decode()
    assert "Audit trail: Audit events have not been sealed" in page


def test_an_event_waiting_over_five_minutes_is_a_stall_even_without_a_heartbeat(
    login, staff, patient, settings
):
    settings.DEBUG = True
    events = _views(login, staff, patient, 1)
    with guard_lifted():
        AuditEvent.objects.filter(pk=events[0].pk).update(at=timezone.now() - timedelta(minutes=6))
    assert len(health_warnings()) == 1


def test_production_warns_until_the_anchor_leaves_the_machine(settings, tmp_path, db):
    settings.DEBUG = False
    settings.VAR_DIR = tmp_path
    settings.AUDIT_ANCHOR_COPIES = []
    assert [w for w in health_warnings() if "only on this machine" in w]
    settings.AUDIT_ANCHOR_COPIES = [f"file://{tmp_path}/same-disk/anchor.log"]
    assert [w for w in health_warnings() if "only on this machine" in w]
    settings.AUDIT_ANCHOR_COPIES = ["syslog://127.0.0.1:514"]
    assert [w for w in health_warnings() if "only on this machine" in w]
    settings.AUDIT_ANCHOR_COPIES = ["syslog+tcp://collector.example:601"]
    assert health_warnings() == []
