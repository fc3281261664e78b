"""Pages: clinician entry, the chart's measures section and trend chart, with query counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ketaclinic.measures.models import Alert, Response
from tests.measures.conftest import PHQ9_URL, dosed_session, post

pytestmark = pytest.mark.django_db


def phq(total: int) -> list[int]:
    answers = [0] * 9
    for i in range(total):
        answers[i % 8] += 1
    return answers


def seed_series(api_client, staff, patient, totals, instrument="phq9"):
    client = api_client(staff["nurse"])
    base = datetime(2026, 9, 1, 15, tzinfo=UTC)
    for week, total in enumerate(totals):
        answers = (
            phq(total)
            if instrument == "phq9"
            else [min(3, max(0, total - 3 * i)) for i in range(7)]
        )
        assert (
            post(
                client,
                PHQ9_URL.format(patient.pk),
                {
                    "instrument": instrument,
                    "answers": answers,
                    "taken_at": (base + timedelta(weeks=week)).isoformat(),
                },
            ).status_code
            == 201
        )


def test_the_entry_page_offers_every_instrument_and_large_radio_targets(login, staff, patient):
    page = login(staff["nurse"]).get(f"/measures/patients/{patient.pk}/enter/?instrument=phq9")
    assert page.status_code == 200
    html = page.content.decode()
    for title in ("PHQ-9", "GAD-7", "PCL-5", "QIDS-SR16", "MADRS", "C-SSRS", "MOAA/S", "CADSS-6"):
        assert title in html
    assert html.count('type="radio"') == 36
    assert 'class="q-option"' in html and "Nearly every day" in html


def test_entering_shows_the_result_with_severity_and_alert_at_once(login, staff, patient):
    client = login(staff["nurse"])
    data = {"instrument": "phq9"} | {f"item_{n}": "2" for n in range(1, 9)} | {"item_9": "1"}
    page = client.post(f"/measures/patients/{patient.pk}/enter/", data)
    assert page.status_code == 200
    html = page.content.decode()
    assert '<span class="big num">17</span>' in html
    assert "Moderately severe" in html
    assert "Suicidality alert — urgent" in html
    assert Response.objects.get().total == 17 and Alert.objects.count() == 1


def test_entering_with_htmx_answers_the_partial(login, staff, patient):
    client = login(staff["nurse"])
    data = {"instrument": "gad7"} | {f"item_{n}": "0" for n in range(1, 8)}
    page = client.post(
        f"/measures/patients/{patient.pk}/enter/", data, headers={"HX-Request": "true"}
    )
    html = page.content.decode()
    assert html.lstrip().startswith('<div id="entry">')
    assert "Minimal" in html and "<html" not in html


def test_a_missing_answer_is_marked_and_nothing_is_stored(login, staff, patient):
    client = login(staff["nurse"])
    data = {"instrument": "gad7"} | {f"item_{n}": "1" for n in range(1, 7)}
    html = client.post(f"/measures/patients/{patient.pk}/enter/", data).content.decode()
    assert "item 7: an answer is required" in html
    assert "q-item has-error" in html
    assert not Response.objects.exists()


def test_the_front_desk_cannot_enter_scores(login, staff, patient):
    client = login(staff["front_desk"])
    data = {"instrument": "gad7"} | {f"item_{n}": "1" for n in range(1, 8)}
    assert client.post(f"/measures/patients/{patient.pk}/enter/", data).status_code == 403
    assert not Response.objects.exists()


def test_the_chart_section_shows_latest_outcomes_and_charts(login, staff, patient, api_client):
    seed_series(api_client, staff, patient, [20, 14, 9, 4])
    html = login(staff["physician"]).get(f"/patients/{patient.pk}/").content.decode()
    assert "Patient Health Questionnaire (PHQ-9)" in html
    assert '<td class="num">4</td>' in html  # latest
    assert '<td class="num">20</td>' in html  # baseline
    assert "-16 (-80.0 %)" in html
    assert f"/measures/patients/{patient.pk}/chart/phq9.svg" in html
    assert "Minimal" in html


def test_the_chart_page_query_count_does_not_grow_with_responses(login, staff, patient, api_client):
    client = login(staff["physician"])
    seed_series(api_client, staff, patient, [20, 14])
    seed_series(api_client, staff, patient, [12, 10], instrument="gad7")
    client.get(f"/patients/{patient.pk}/")
    with CaptureQueriesContext(connection) as few:
        assert client.get(f"/patients/{patient.pk}/").status_code == 200
    seed_series(api_client, staff, patient, [18, 16, 12, 9, 7, 5, 4, 3])
    seed_series(api_client, staff, patient, [12, 11, 9, 8, 6], instrument="gad7")
    with CaptureQueriesContext(connection) as many:
        assert client.get(f"/patients/{patient.pk}/").status_code == 200
    assert len(many) == len(few)


def test_the_trend_chart_is_svg_with_the_bands(login, staff, patient, api_client):
    seed_series(api_client, staff, patient, [20, 14, 9, 4])
    client = login(staff["therapist"])
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/measures/patients/{patient.pk}/chart/phq9.svg")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    svg = response.content.decode()
    assert svg.startswith("<svg")
    for label in ("Minimal", "Mild", "Moderate", "Moderately severe", "Severe"):
        assert label in svg
    seed_series(api_client, staff, patient, [3, 3, 2, 2, 1, 1])
    with CaptureQueriesContext(connection) as more:
        client.get(f"/measures/patients/{patient.pk}/chart/phq9.svg")
    assert len(more) == len(queries)
    assert client.get(f"/measures/patients/{patient.pk}/chart/cssrs_screen.svg").status_code == 404
    assert (
        login(staff["front_desk"])
        .get(f"/measures/patients/{patient.pk}/chart/phq9.svg")
        .status_code
        == 403
    )


def test_the_chart_marks_every_treatment_session_and_names_the_baseline(
    login, staff, patient, api_client, clinic
):
    seed_series(api_client, staff, patient, [20, 18, 11, 6])
    base = datetime(2026, 9, 1, 15, tzinfo=UTC)
    client = login(staff["physician"])
    html = client.get(f"/patients/{patient.pk}/").content.decode()
    assert "No treatment yet: baseline is the first score." in html
    dosed_session(clinic, patient, staff["physician"], base + timedelta(weeks=1, days=1))
    with CaptureQueriesContext(connection) as one:
        svg = client.get(f"/measures/patients/{patient.pk}/chart/phq9.svg").content.decode()
    assert svg.count("Treatment session") == 1
    for days in (3, 5, 8):
        dosed_session(clinic, patient, staff["physician"], base + timedelta(weeks=1, days=days))
    with CaptureQueriesContext(connection) as four:
        svg = client.get(f"/measures/patients/{patient.pk}/chart/phq9.svg").content.decode()
    assert svg.count("Treatment session") == 1  # named once in the legend
    assert len(four) == len(one)
    html = client.get(f"/patients/{patient.pk}/").content.decode()
    # Week 1 (18) is the last score before the first dose on 9 Sep: 18 -> 6 is -66.7 %.
    assert "Baseline is the last score before the first treatment (9 Sep 2026)." in html
    assert '<td class="num">18</td>' in html
    assert "-12 (-66.7 %)" in html


def test_another_clinic_gets_404_on_every_page(login, outsider, patient, api_client, staff):
    seed_series(api_client, staff, patient, [20, 14])
    client = login(outsider)
    assert client.get(f"/measures/patients/{patient.pk}/enter/").status_code == 404
    assert client.get(f"/measures/patients/{patient.pk}/chart/phq9.svg").status_code == 404
    assert (
        client.post(f"/measures/patients/{patient.pk}/send/", {"instruments": ["phq9"]}).status_code
        == 404
    )
    assert "No open alerts" in client.get("/alerts/").content.decode()


def test_an_earlier_time_is_read_in_the_clinic_time_zone(login, staff, patient):
    client = login(staff["nurse"])
    data = {"instrument": "gad7", "taken_at": "2026-11-20T09:15"} | {
        f"item_{n}": "1" for n in range(1, 8)
    }
    assert client.post(f"/measures/patients/{patient.pk}/enter/", data).status_code == 200
    # Harbor Light is in New York: 09:15 EST is 14:15 UTC.
    assert Response.objects.get().taken_at == datetime(2026, 11, 20, 14, 15, tzinfo=UTC)


def test_opening_the_entry_page_is_audited(login, staff, patient):
    from ketaclinic.audit.models import AuditEvent

    login(staff["nurse"]).get(f"/measures/patients/{patient.pk}/enter/")
    event = AuditEvent.objects.get(action="view", patient_id=patient.pk)
    assert event.detail == {"view": "measure_entry"}


def test_the_front_desk_sees_only_the_send_forms(login, staff, patient, api_client):
    seed_series(api_client, staff, patient, [20, 14])
    html = login(staff["front_desk"]).get(f"/patients/{patient.pk}/").content.decode()
    assert "E-mail a questionnaire link" in html
    assert "Enter a questionnaire" not in html
    assert "chart/phq9.svg" not in html and "Baseline" not in html
