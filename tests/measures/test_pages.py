"""Pages: clinician entry, the chart's measures section and trend chart, with query counts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ketaclinic.measures.models import Alert, Response
from tests.measures.conftest import PHQ9_URL, dosed_session, post

pytestmark = pytest.mark.django_db


NUM = r"(-?[\d.]+)"
# The chart's SVG names its parts by class: the plot frame, one rectangle per severity band,
# a dotted line per treatment session, the dashed cut-off, and the totals' path.
SHADED = re.compile(
    rf'<rect class="band" x="{NUM}" y="{NUM}" width="{NUM}" height="{NUM}" fill="(#[0-9a-f]{{6}})"'
)
FRAME = re.compile(rf'<rect class="frame" x="{NUM}" y="{NUM}" width="{NUM}" height="{NUM}"')
DOTTED_SESSION = re.compile(rf'<line class="session" x1="{NUM}" y1="{NUM}" x2="\1" y2="{NUM}"')
HORIZONTAL = re.compile(
    rf'<line class="cutoff" x1="{NUM}" y1="{NUM}" x2="{NUM}" y2="\2" stroke="(#[0-9a-f]{{6}})"'
)
DATA_LINE = re.compile(r'<path class="trend" d="(M [^"]*)"')


def plot_frame(svg: str) -> tuple[float, float]:
    """The plot area's top and bottom, in SVG units (y grows downwards)."""
    _x, top, _width, height = (float(v) for v in FRAME.search(svg).groups())
    return top, top + height


def shaded_bands(svg: str) -> list[tuple[float, float, str]]:
    """(top, bottom, colour) of each shaded severity band, lowest band first."""
    from ketaclinic.measures.charts import BAND_COLOURS

    bands = [
        (float(top), float(top) + float(height), colour)
        for _x, top, _width, height, colour in SHADED.findall(svg)
        if colour in BAND_COLOURS
    ]
    return sorted(bands, key=lambda b: -b[1])


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
    # Five shaded rectangles, each its own colour, stacked without gaps over the whole
    # plot, each as tall as its band's share of the range (0-4 is 5 points, 20-27 is 8).
    bands = shaded_bands(svg)
    assert len(bands) == 5 and len({colour for *_, colour in bands}) == 5
    top, bottom = plot_frame(svg)
    assert bands[0][1] == pytest.approx(bottom) and bands[-1][0] == pytest.approx(top)
    for lower, upper in zip(bands, bands[1:], strict=False):
        assert upper[1] == pytest.approx(lower[0])
    unit = (bottom - top) / 28  # 0-27 with half a point of room at each end
    heights = [round((b_bottom - b_top) / unit, 3) for b_top, b_bottom, _ in bands]
    assert heights == [5, 5, 5, 5, 8]
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
    assert "No treatment sessions recorded here: baseline is the first score." in html
    assert not DOTTED_SESSION.findall(
        client.get(f"/measures/patients/{patient.pk}/chart/phq9.svg").content.decode()
    )
    dosed_session(clinic, patient, staff["physician"], base + timedelta(weeks=1, days=1))
    with CaptureQueriesContext(connection) as one:
        svg = client.get(f"/measures/patients/{patient.pk}/chart/phq9.svg").content.decode()
    assert len(DOTTED_SESSION.findall(svg)) == 1
    assert svg.count("Treatment session") == 1
    for days in (3, 5, 8):
        dosed_session(clinic, patient, staff["physician"], base + timedelta(weeks=1, days=days))
    with CaptureQueriesContext(connection) as four:
        svg = client.get(f"/measures/patients/{patient.pk}/chart/phq9.svg").content.decode()
    # One dotted line per session, at four different places; the legend names them once.
    lines = DOTTED_SESSION.findall(svg)
    assert len(lines) == 4 and len({x for x, *_ in lines}) == 4
    assert svg.count("Treatment session") == 1
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


def test_points_at_the_ends_of_the_range_are_not_clipped():
    from ketaclinic.measures.charts import trend_svg
    from ketaclinic.measures.registry import instruments

    base = datetime(2026, 9, 1, 15, tzinfo=UTC)
    svg = trend_svg(instruments()["phq9"], [(base, 27), (base + timedelta(weeks=1), 0)], UTC, [])
    top, bottom = plot_frame(svg)
    unit = (bottom - top) / 28
    path = DATA_LINE.search(svg).group(1)
    ys = [float(y) for y in re.findall(r"[ML] [\d.]+ ([\d.]+)", path)]
    # Half a point of room above 27 and below 0: the markers show whole (coordinates are
    # written to a thousandth of a pixel).
    assert min(ys) - top == pytest.approx(unit / 2, abs=0.001)
    assert bottom - max(ys) == pytest.approx(unit / 2, abs=0.001)


def test_the_pcl5_chart_draws_its_cutoff_line(login, staff, patient, api_client):
    client = api_client(staff["nurse"])
    base = datetime(2026, 9, 1, 15, tzinfo=UTC)
    for week, answers in enumerate([[3] * 20, [1] * 20]):
        post(
            client,
            PHQ9_URL.format(patient.pk),
            {
                "instrument": "pcl5",
                "answers": answers,
                "taken_at": (base + timedelta(weeks=week)).isoformat(),
            },
        )
    page = login(staff["physician"])
    svg = page.get(f"/measures/patients/{patient.pk}/chart/pcl5.svg").content.decode()
    top, bottom = plot_frame(svg)
    unit = (bottom - top) / 81  # 0-80 with half a point at each end
    lines = [(float(y), colour) for _x, y, _x2, colour in HORIZONTAL.findall(svg)]
    assert len(lines) == 1
    y, colour = lines[0]
    assert colour == "#8a2432"
    assert y == pytest.approx(bottom - (33 + 0.5) * unit, abs=0.001)  # at a total of 33
    assert "Cut-off 33" in svg
    html = page.get(f"/patients/{patient.pk}/").content.decode()
    # Latest PCL-5: every item 1 = 20, below 33, and no item at 2+.
    assert "below cut-off 33" in html and "DSM-5 item rule not met" in html
    assert "a dashed line marks a cut-off" in html


def test_entering_a_pcl5_shows_the_provisional_diagnosis_and_cutoff(login, staff, patient):
    data = {"instrument": "pcl5"} | {f"item_{n}": "2" for n in range(1, 21)}
    html = (
        login(staff["physician"])
        .post(f"/measures/patients/{patient.pk}/enter/", data)
        .content.decode()
    )
    assert '<span class="big num">40</span>' in html
    assert "At or above the cut-off of 33" in html
    assert "Provisional PTSD: DSM-5 item rule met" in html
    stored = Response.objects.get()
    assert (stored.provisional_diagnosis, stored.above_cutoff) == (True, True)


def test_the_chart_section_says_when_treatment_began_before_any_score(
    login, staff, patient, api_client, clinic
):
    dosed_session(clinic, patient, staff["physician"], datetime(2026, 8, 30, 15, tzinfo=UTC))
    seed_series(api_client, staff, patient, [16, 4])  # from 1 Sep, after the first dose
    html = login(staff["physician"]).get(f"/patients/{patient.pk}/").content.decode()
    assert '16 <span class="badge level-caution">after treatment began</span>' in html
    assert "the first score is shown as the baseline but already reflects treatment" in html
    assert "-12 (-75.0 %)" in html
    assert "✓ yes" not in html  # neither a response nor a remission is claimed


def test_the_chart_section_marks_a_prorated_latest_score(login, staff, patient, api_client):
    post(
        api_client(staff["nurse"]),
        PHQ9_URL.format(patient.pk),
        {"instrument": "phq9", "answers": [2, 2, None, 2, 2, 2, 2, 2, 0]},
    )
    html = login(staff["physician"]).get(f"/patients/{patient.pk}/").content.decode()
    assert "prorated: item 3 skipped" in html


def test_a_long_history_draws_a_chart_of_bounded_size_that_keeps_its_peak():
    from ketaclinic.measures.charts import trend_svg
    from ketaclinic.measures.registry import instruments

    phq9 = instruments()["phq9"]
    base = datetime(2020, 1, 1, 15, tzinfo=UTC)
    short = [(base + timedelta(days=d), 5) for d in range(5)]
    # Five years of daily scores at 5 with one day at 27 in the middle.
    long = [(base + timedelta(days=d), 27 if d == 900 else 5) for d in range(1800)]
    sessions = [base + timedelta(days=d) for d in range(0, 1800, 2)]
    small, big = trend_svg(phq9, short, UTC, []), trend_svg(phq9, long, UTC, sessions)
    assert len(big) < 40_000 and len(DATA_LINE.search(big).group(1)) < 12_000
    top, bottom = plot_frame(big)
    unit = (bottom - top) / 28
    ys = [float(y) for y in re.findall(r"[ML] [\d.]+ ([\d.]+)", DATA_LINE.search(big).group(1))]
    # The one severe day is still drawn at 27, and the usual days at 5.
    assert min(ys) == pytest.approx(bottom - 27.5 * unit, abs=0.001)
    assert max(ys) == pytest.approx(bottom - 5.5 * unit, abs=0.001)
    # Sessions closer than the chart can separate share a line; the legend names them once.
    assert 0 < len(DOTTED_SESSION.findall(big)) <= 160 and big.count("Treatment session") == 1
    assert "<circle" in small and "<circle" not in big  # markers only while they stay apart


def test_the_chart_names_itself_for_screen_readers():
    from ketaclinic.measures.charts import trend_svg
    from ketaclinic.measures.registry import instruments

    base = datetime(2026, 9, 1, 15, tzinfo=UTC)
    svg = trend_svg(instruments()["phq9"], [(base, 20), (base + timedelta(weeks=2), 9)], UTC)
    assert 'role="img"' in svg
    assert "<title" in svg and "2 scores from 01 Sep 2026 to 15 Sep 2026; latest 9" in svg
    assert "No scores yet" in trend_svg(instruments()["phq9"], [], UTC)
