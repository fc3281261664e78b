"""Every form of the session page, posted by every role that sees it, with valid, empty and
hostile input, as a plain post and through htmx: no 500, a refusal names the field and
changes nothing, a save answers with the form's panel only."""

from __future__ import annotations

import re

import pytest

from ketaclinic.patients.models import Patient
from ketaclinic.treatment.models import (
    AdverseEvent,
    Amendment,
    ChecklistResult,
    DeviceDose,
    InfusionChange,
    Observation,
    SessionAlert,
    TreatmentSession,
    VitalReading,
)
from ketaclinic.treatment.session_forms import STEPS

from .test_session_safety import iv_dosing, iv_monitoring, start_iv

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
# The steps each state shows a form for (stop last: it ends the session).
BY_STATE = {
    "pre_dose": ["check", "override", "pregnancy", "weight", "dosing", "vitals", "adverse"],
    "dosing": ["infusion", "device", "dosing_end", "observation", "ack"],
    "monitoring": ["vitals", "observation", "assessment", "discharge", "sign", "amend", "stop"],
}
PHYSICIANS_ONLY = {"override"}
HOSTILE = ("<script>alert(1)</script>", "9" * 400, "-1e999", "\u202e😀" * 40)


def snapshot(sid: int) -> tuple:
    """What a write to the session could change."""
    session = TreatmentSession.objects.get(pk=sid)
    rows = {
        model.__name__: model.objects.filter(session_id=sid).count()
        for model in (
            VitalReading,
            Observation,
            AdverseEvent,
            InfusionChange,
            DeviceDose,
            Amendment,
        )
    }
    checks = tuple(
        ChecklistResult.objects.filter(session_id=sid)
        .order_by("item_id")
        .values_list("item_id", "status", "override_reason")
    )
    acked = SessionAlert.objects.filter(session_id=sid, acknowledged_at__isnull=False).count()
    weight = Patient.objects.get(pk=session.patient_id).weight_kg
    return (session.version, session.state, rows, checks, acked, weight)


def said_why(html: str) -> bool:
    return 'class="error"' in html or "form-errors" in html or "level-urgent" in html


@pytest.fixture
def in_state(staff, api_client, iv_appointment, clinic, patient):
    def make(state: str) -> int:
        args = (staff, api_client, iv_appointment, clinic, patient)
        if state == "pre_dose":
            return start_iv(*args)[2]["id"]
        if state == "dosing":
            return iv_dosing(*args)[2]["id"]
        return iv_monitoring(*args)[2]

    return make


def post(client, sid: int, step: str, data: dict, htmx: bool):
    version = TreatmentSession.objects.get(pk=sid).version
    return client.post(
        f"/treatment/sessions/{sid}/do/{step}/",
        {"version": version, **data},
        **(HTMX if htmx else {}),
    )


@pytest.mark.parametrize("state", list(BY_STATE))
@pytest.mark.parametrize("role", ["nurse", "physician"])
def test_every_form_refuses_empty_and_hostile_input_by_field_and_changes_nothing(
    state, role, in_state, staff, login
):
    sid = in_state(state)
    client = login(staff[role])
    for step in BY_STATE[state]:
        names = list(STEPS[step].base_fields)
        for htmx in (False, True):
            # A NUL byte in every field: refused, each field named, nothing written.
            before = snapshot(sid)
            nul = {name: "x\x00" for name in names} or {"note": "x\x00"}
            refused = post(client, sid, step, nul, htmx)
            html = refused.content.decode()
            assert refused.status_code == (200 if htmx else 422), (step, refused.status_code)
            assert "Remove the invisible NUL character" in html, step
            assert snapshot(sid) == before, step
            if htmx:
                assert "<html" not in html and 'hx-swap-oob="true"' not in html, step
                assert f'id="{STEPS[step].PANEL}"' in html, step

            # Empty, then each hostile value in every field: never a 500; either saved
            # and said so, or refused, said why, and nothing changed.
            for value in ("", *HOSTILE):
                before = snapshot(sid)
                answer = post(client, sid, step, dict.fromkeys(names, value), htmx)
                assert answer.status_code in (200, 302, 403, 409, 422), (step, value, answer)
                if answer.status_code == 403:  # a physician's step (override): not the nurse's
                    assert role == "nurse" and step in PHYSICIANS_ONLY, (step, value)
                    assert snapshot(sid) == before, step
                    continue
                html = answer.content.decode()
                assert "<script>alert(1)" not in html, step
                if snapshot(sid) == before:
                    assert answer.status_code != 302 or htmx, (step, value)
                    if answer.status_code != 302:
                        assert said_why(html), (step, value)
                elif not htmx:
                    assert answer.status_code == 302, (step, value)


def test_a_post_without_its_version_is_refused_and_the_panels_come_back_fresh(
    in_state, staff, login
):
    sid = in_state("monitoring")
    client = login(staff["nurse"])
    before = snapshot(sid)
    for version in ("", "abc", "9" * 40):
        answer = client.post(
            f"/treatment/sessions/{sid}/do/vitals/",
            {"version": version, "systolic": "120", "diastolic": "80"},
            **HTMX,
        )
        html = answer.content.decode()
        assert answer.status_code == 200
        assert "did not say which version" in html
        assert 'id="discharge"' in html and 'id="checklist"' in html  # every panel
    assert snapshot(sid) == before


@pytest.mark.parametrize("role", ["admin", "therapist", "front_desk"])
def test_roles_that_do_not_chart_are_refused_every_form_and_nothing_changes(
    role, in_state, staff, login
):
    sid = in_state("monitoring")
    client = login(staff[role])
    before = snapshot(sid)
    for step in STEPS:
        for htmx in (False, True):
            answer = post(client, sid, step, {"systolic": "120", "diastolic": "80"}, htmx)
            assert answer.status_code == 403, (step, answer.status_code)
    assert snapshot(sid) == before


def test_saved_vitals_through_htmx_answer_with_the_panel_and_fresh_versions(in_state, staff, login):
    sid = in_state("monitoring")
    client = login(staff["physician"])
    readings = VitalReading.objects.filter(session_id=sid).count()
    saved = post(
        client,
        sid,
        "vitals",
        {"systolic": "128", "diastolic": "80", "heart_rate": "70", "spo2": "98"},
        True,
    )
    html = saved.content.decode()
    version = TreatmentSession.objects.get(pk=sid).version
    assert saved.status_code == 200 and "<html" not in html
    assert html.lstrip().startswith('<section id="vitals"')
    assert "128/80" in html  # the readings table
    assert "Vitals recorded (BP 128/80)." in html  # the message, out of band
    assert 'hx-swap-oob="outerHTML:#top input.session-version"' in html
    versions = set(re.findall(r'name="version" value="(\d+)"', html))
    assert versions == {str(version)}
    assert VitalReading.objects.filter(session_id=sid).count() == readings + 1
    # What else a reading changes comes along; the other panels stay as they are.
    assert 'id="alerts"' in html and 'id="discharge"' in html
    assert 'id="checklist"' in html  # the pre-dose readings are a checklist item
    assert 'id="events"' not in html and 'id="dose"' not in html


def test_a_state_change_through_htmx_refreshes_every_panel(in_state, staff, login):
    sid = in_state("dosing")
    client = login(staff["nurse"])
    saved = post(
        client, sid, "dosing_end", {"drawn": "3.5", "given": "3.5", "left_over": "0"}, True
    )
    html = saved.content.decode()
    assert saved.status_code == 200
    assert TreatmentSession.objects.get(pk=sid).state == "monitoring"
    for panel in (
        "session-patient",
        "session-head",
        "alerts",
        "checklist",
        "vitals",
        "events",
        "discharge",
        "sign",
    ):
        assert f'id="{panel}"' in html, panel
    assert "Dosing ended; monitoring." in html


def test_a_stale_version_through_htmx_says_so_and_changes_nothing(in_state, staff, login):
    sid = in_state("monitoring")
    client = login(staff["nurse"])
    version = TreatmentSession.objects.get(pk=sid).version
    post(client, sid, "observation", {"kind": "moaas", "value": "5"}, True)
    before = snapshot(sid)
    answer = client.post(
        f"/treatment/sessions/{sid}/do/observation/",
        {"version": version, "kind": "moaas", "value": "4"},
        **HTMX,
    )
    assert answer.status_code == 200
    assert "Someone else saved this session" in answer.content.decode()
    assert snapshot(sid) == before


def test_a_panel_saved_through_htmx_costs_as_many_queries_at_5_and_50_past_sessions(
    staff, login, iv_appointment
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from ketaclinic.treatment import services

    from .conftest import actor
    from .test_page_costs import _add_past_sessions

    session = services.start_session(actor=actor(staff["nurse"]), appointment=iv_appointment)
    client = login(staff["nurse"])
    post(client, session.pk, "observation", {"kind": "note", "text": "warm-up"}, True)
    counts, have = [], 0
    for history in (5, 50):
        _add_past_sessions(session, history - have, have)
        have = history
        with CaptureQueriesContext(connection) as captured:
            saved = post(client, session.pk, "observation", {"kind": "note", "text": "calm"}, True)
        assert saved.status_code == 200 and "Note recorded." in saved.content.decode()
        counts.append(len(captured))
    assert counts[0] == counts[1], counts
    assert counts[0] <= 80, counts  # the write, its audit events, and the panels it changed
