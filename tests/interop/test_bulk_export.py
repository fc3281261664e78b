"""FHIR Bulk Data export: kick-off, polling, manifest, files, cancel, expiry, restarts."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from ketaclinic.audit.models import AuditEvent
from ketaclinic.interop import bulk
from ketaclinic.interop.models import ExportJob, Status
from ketaclinic.scheduling.models import TreatmentCourse

pytestmark = pytest.mark.django_db

ASYNC = {"HTTP_PREFER": "respond-async"}


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def kick_off(client, url="/fhir/R4/$export"):
    response = client.get(url, **ASYNC)
    assert response.status_code == 202, response.content
    return path_of(response["Content-Location"])


def finished_manifest(client, status_url):
    bulk.run_queued()
    response = client.get(status_url)
    assert response.status_code == 200
    return response.json()


def lines(client, url):
    response = client.get(path_of(url))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+ndjson"
    return [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]


def test_the_export_lifecycle_from_kick_off_to_files(
    api_client, staff, patient, record, export_dir
):
    admin = api_client(staff["admin"])
    status_url = kick_off(admin, "/fhir/R4/$export?_type=Patient,Observation,Condition")
    job = ExportJob.objects.get()
    assert (job.status, job.types, job.level) == (
        "queued",
        ["Patient", "Observation", "Condition"],
        "system",
    )
    polling = admin.get(status_url)
    assert polling.status_code == 202
    assert polling["X-Progress"] == "queued: 0 of 3 resource types done, 0 resources written"
    manifest = finished_manifest(admin, status_url)
    assert manifest["requiresAccessToken"] is True
    assert manifest["request"].endswith("/fhir/R4/$export?_type=Patient,Observation,Condition")
    assert [(o["type"], o["count"]) for o in manifest["output"]] == [
        ("Patient", 1),
        ("Observation", 16),
        ("Condition", 2),
    ]
    observations = lines(admin, manifest["output"][1]["url"])
    assert len(observations) == 16
    assert {o["resourceType"] for o in observations} == {"Observation"}
    assert [p["id"] for p in lines(admin, manifest["output"][0]["url"])] == [str(patient.pk)]
    actions = list(
        AuditEvent.objects.filter(action__startswith="fhir_export").values_list("action", flat=True)
    )
    assert actions == ["fhir_export", "fhir_export_download", "fhir_export_download"]


def test_only_an_admin_of_the_clinic_exports_and_fetches_files(
    api_client, staff, outsider, patient, record
):
    for role in ("physician", "nurse", "therapist", "front_desk"):
        refused = api_client(staff[role]).get("/fhir/R4/$export", **ASYNC)
        assert refused.status_code == 403
    assert ExportJob.objects.count() == 0
    admin = api_client(staff["admin"])
    status_url = kick_off(admin)
    manifest = finished_manifest(admin, status_url)
    file_url = path_of(manifest["output"][0]["url"])
    assert Client().get(file_url).status_code == 401
    assert Client().get(status_url).status_code == 401
    assert api_client(staff["physician"]).get(file_url).status_code == 403
    # An admin of another clinic does not learn that the export exists.
    from ketaclinic.accounts.services import add_staff

    other_admin = add_staff(username="north-admin", clinic=outsider.clinic, role="admin")
    assert api_client(other_admin).get(status_url).status_code == 404
    assert api_client(other_admin).get(file_url).status_code == 404


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("_type=Patient,Basic", "_type"),
        ("_outputFormat=application/fhir%2Bjson", "_outputFormat"),
        ("_since=9999-01-01", "_since"),
        ("_since=last-week", "_since"),
        ("_elements=id", "_elements"),
    ],
)
def test_a_kick_off_the_server_cannot_run_is_refused(api_client, staff, query, named):
    response = api_client(staff["admin"]).get(f"/fhir/R4/$export?{query}", **ASYNC)
    assert response.status_code == 400
    assert response.json()["issue"][0]["diagnostics"].startswith(named)
    assert ExportJob.objects.count() == 0


def test_a_kick_off_needs_respond_async(api_client, staff):
    response = api_client(staff["admin"]).get("/fhir/R4/$export")
    assert response.status_code == 400
    assert ExportJob.objects.count() == 0


def test_since_exports_only_what_changed_after(api_client, staff, patient, record):
    admin = api_client(staff["admin"])
    status_url = kick_off(admin, "/fhir/R4/$export?_type=Observation&_since=2026-11-08T00:00:00Z")
    manifest = finished_manifest(admin, status_url)
    (output,) = manifest["output"]
    found = {o["id"] for o in lines(admin, output["url"])}
    reading = record["readings"][2].pk
    # The last reading, and the body measures whose patient row changed since.
    assert found >= {f"vital-{reading}-bp", f"vital-{reading}-spo2"}
    assert not any(i.startswith(f"vital-{record['readings'][0].pk}-") for i in found)


def test_a_group_export_holds_only_the_cohorts_patients(
    api_client, staff, patient, record, neighbour
):
    admin = api_client(staff["admin"])
    group = admin.get("/fhir/R4/Group/ketamine-iv-mood").json()
    assert group["member"] == [{"entity": {"reference": f"Patient/{patient.pk}"}}]
    status_url = kick_off(
        admin, "/fhir/R4/Group/ketamine-iv-mood/$export?_type=Patient,Observation"
    )
    manifest = finished_manifest(admin, status_url)
    patients = lines(admin, manifest["output"][0]["url"])
    assert [p["id"] for p in patients] == [str(patient.pk)]
    observations = lines(admin, manifest["output"][1]["url"])
    assert {o["subject"]["reference"] for o in observations} == {f"Patient/{patient.pk}"}
    assert admin.get("/fhir/R4/Group/no-such/$export", **ASYNC).status_code == 404
    assert TreatmentCourse.objects.filter(patient=neighbour).count() == 0


def test_patient_export_covers_every_patient(api_client, staff, patient, record, neighbour):
    admin = api_client(staff["admin"])
    manifest = finished_manifest(admin, kick_off(admin, "/fhir/R4/Patient/$export?_type=Patient"))
    assert sorted(p["id"] for p in lines(admin, manifest["output"][0]["url"])) == sorted(
        [str(patient.pk), str(neighbour.pk)]
    )


def test_files_split_past_the_size_limit(api_client, staff, patient, record, settings):
    settings.KETACLINIC_EXPORT_FILE_BYTES = 4000
    admin = api_client(staff["admin"])
    manifest = finished_manifest(admin, kick_off(admin, "/fhir/R4/$export?_type=Observation"))
    outputs = manifest["output"]
    assert len(outputs) > 1
    assert all(o["type"] == "Observation" for o in outputs)
    assert sum(o["count"] for o in outputs) == 16
    every = [o["id"] for out in outputs for o in lines(admin, out["url"])]
    assert len(every) == len(set(every)) == 16


def test_delete_cancels_a_queued_export_and_it_never_runs(api_client, staff, patient, export_dir):
    admin = api_client(staff["admin"])
    status_url = kick_off(admin)
    cancelled = admin.delete(status_url)
    assert cancelled.status_code == 202
    assert admin.get(status_url).status_code == 404
    assert bulk.run_queued() == 0
    assert ExportJob.objects.get().status == "cancelled"
    assert not (export_dir / str(ExportJob.objects.get().pk)).exists()


def test_a_cancel_during_the_run_stops_it_and_removes_its_files(
    api_client, staff, patient, record, export_dir, monkeypatch
):
    admin = api_client(staff["admin"])
    status_url = kick_off(admin, "/fhir/R4/$export?_type=Patient,Observation")
    monkeypatch.setattr(bulk, "HEARTBEAT_EVERY", 1)
    job = bulk.claim_next()
    written = []

    def cancel_after_first(*args, **kwargs):
        written.append(1)
        if len(written) == 3:
            admin.delete(status_url)
        return original(*args, **kwargs)

    original = bulk._beat
    monkeypatch.setattr(bulk, "_beat", cancel_after_first)
    bulk.run_job(job)
    job.refresh_from_db()
    assert job.status == "cancelled"
    assert not (export_dir / str(job.pk)).exists()


def test_files_expire_after_the_configured_hours(api_client, staff, patient, export_dir, settings):
    settings.KETACLINIC_EXPORT_HOURS = 2
    admin = api_client(staff["admin"])
    status_url = kick_off(admin, "/fhir/R4/$export?_type=Patient")
    manifest = finished_manifest(admin, status_url)
    job = ExportJob.objects.get()
    assert job.expires_at == job.finished_at + timedelta(hours=2)
    assert bulk.recover_and_expire(job.finished_at + timedelta(hours=1)) == 0
    assert admin.get(path_of(manifest["output"][0]["url"])).status_code == 200
    assert bulk.recover_and_expire(job.finished_at + timedelta(hours=2, seconds=1)) == 1
    assert admin.get(status_url).status_code == 404
    assert admin.get(path_of(manifest["output"][0]["url"])).status_code == 404
    assert not (export_dir / str(job.pk)).exists()


def test_a_job_cut_short_by_a_worker_restart_resumes_without_duplicates(
    api_client, staff, patient, record, export_dir
):
    admin = api_client(staff["admin"])
    status_url = kick_off(admin, "/fhir/R4/$export?_type=Patient,Observation")
    job = bulk.claim_next()
    # The worker died while writing Observations: Patient was done, half a file is left.
    folder = export_dir / str(job.pk)
    folder.mkdir(parents=True)
    bulk.write_type(
        bulk.resources_of(job.clinic, "Patient", since=None, patient_ids=None),
        folder,
        "Patient",
        limit_bytes=10**6,
        tick=lambda n: None,
    )
    (folder / "Observation-1.ndjson").write_text('{"resourceType": "Observation", "id": "x"}\n')
    died = timezone.now() - timedelta(minutes=5)
    ExportJob.objects.filter(pk=job.pk).update(
        done=[{"type": "Patient", "files": [["Patient-1.ndjson", 1]]}],
        heartbeat_at=died,
        current_type="Observation",
    )
    assert admin.get(status_url).status_code == 202
    assert bulk.recover_and_expire(timezone.now()) == 1
    assert ExportJob.objects.get().status == "queued"
    manifest = finished_manifest(admin, status_url)
    assert [(o["type"], o["count"]) for o in manifest["output"]] == [
        ("Patient", 1),
        ("Observation", 16),
    ]
    ids = [o["id"] for o in lines(admin, manifest["output"][1]["url"])]
    assert "x" not in ids and len(ids) == len(set(ids)) == 16
    assert ExportJob.objects.get().attempts == 2


def test_a_job_that_keeps_dying_fails_cleanly(api_client, staff, patient, export_dir):
    admin = api_client(staff["admin"])
    status_url = kick_off(admin)
    ExportJob.objects.update(
        status=Status.RUNNING,
        attempts=bulk.MAX_ATTEMPTS,
        heartbeat_at=timezone.now() - timedelta(minutes=10),
    )
    assert bulk.recover_and_expire(timezone.now()) == 1
    response = admin.get(status_url)
    assert response.status_code == 500
    assert response.json()["issue"][0]["diagnostics"] == (
        "The export failed: the worker stopped 3 times during this export"
    )


@pytest.mark.django_db(transaction=True)
def test_the_worker_job_runs_queued_exports_in_a_thread(api_client, staff, patient):
    admin = api_client(staff["admin"])
    kick_off(admin, "/fhir/R4/$export?_type=Patient")
    assert bulk.dispatch_exports(timezone.now()) == 1
    bulk._runner.join(timeout=30)
    assert ExportJob.objects.get().status == "completed"


def test_the_command_writes_the_same_files(clinic, patient, record, tmp_path):
    out = tmp_path / "out"
    stdout, stderr = StringIO(), StringIO()
    call_command(
        "fhir_export", "--clinic", clinic.slug, "--out", str(out), "--type", "Patient,Observation",
        stdout=stdout, stderr=stderr,
    )  # fmt: skip
    assert stdout.getvalue().strip() == f"17 resources written to {out}"
    assert sorted(p.name for p in out.iterdir()) == ["Observation-1.ndjson", "Patient-1.ndjson"]
    assert len((out / "Observation-1.ndjson").read_text().splitlines()) == 16
    assert AuditEvent.objects.filter(action="fhir_export_command").count() == 1
