"""The measures API: exact contracts, item-named refusals, every instrument, outcomes, isolation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from ketaclinic.audit.models import AuditEvent
from ketaclinic.measures.models import Alert, Response
from tests.measures.conftest import PHQ9_URL, dosed_session, post

pytestmark = pytest.mark.django_db


def test_it_records_a_phq9_and_answers_the_exact_contract(api_client, staff, patient):
    taken = "2026-11-20T14:30:00+00:00"
    response = post(
        api_client(staff["nurse"]),
        PHQ9_URL.format(patient.pk),
        {"instrument": "phq9", "answers": [2, 2, 1, 2, 1, 1, 2, 1, 0], "taken_at": taken},
    )
    assert response.status_code == 201
    stored = Response.objects.get()
    assert response.json() == {
        "id": stored.pk,
        "instrument": "phq9",
        "version": 1,
        "total": 12,
        "severity": "moderate",
        "severity_label": "Moderate",
        "subscores": {},
        "prorated": False,
        "missing_items": [],
        "provisional_diagnosis": None,
        "above_cutoff": None,
        "alerts": [],
        "taken_at": "2026-11-20T14:30:00Z",
    }
    assert stored.answers == [2, 2, 1, 2, 1, 1, 2, 1, 0]
    assert stored.source == "clinician"
    assert stored.entered_by == staff["nurse"].user
    event = AuditEvent.objects.get(action="create", object_type="measures.response")
    assert event.patient_id == patient.pk and event.detail["instrument"] == "phq9@1"


def test_taken_at_defaults_to_now(api_client, staff, patient):
    before = timezone.now()
    response = post(
        api_client(staff["therapist"]),
        PHQ9_URL.format(patient.pk),
        {"instrument": "gad7", "answers": [0, 0, 0, 0, 0, 0, 0]},
    )
    assert response.status_code == 201
    assert Response.objects.get().taken_at >= before


# Worked examples for every shipped instrument (totals and bands from DOMAIN.md §6).
EXAMPLES = [
    ("phq9", [1, 1, 1, 1, 1, 1, 1, 1, 0], 8, "mild", {}),
    ("gad7", [3, 3, 2, 2, 2, 1, 2], 15, "severe", {}),
    # PCL-5: every item 2 -> 40; clusters B 10, C 4, D 14, E 12.
    ("pcl5", [2] * 20, 40, None, {"B": 10, "C": 4, "D": 14, "E": 12}),
    # QIDS-SR16: sleep max(1..4)=3, item 5=1, appetite max(6..9)=2, 10=1, 11=1, 12=0,
    # 13=1, 14=1, psychomotor max(15,16)=2 -> 12 moderate.
    ("qids_sr16", [3, 1, 0, 2, 1, 2, 0, 1, 0, 1, 1, 0, 1, 1, 2, 1], 12, "moderate", None),
    ("madrs", [3, 3, 2, 4, 2, 3, 3, 2, 2, 0], 24, "moderate", {}),
    ("pain_nrs", [7], 7, None, {}),
    ("moaas", [4], 4, None, {}),
    ("cadss6", [1, 0, 2, 1, 0, 3], 7, None, {}),
]


@pytest.mark.parametrize(
    ("code", "answers", "total", "severity", "subscores"), EXAMPLES, ids=[e[0] for e in EXAMPLES]
)
def test_every_instrument_posts_through_the_api(
    api_client, staff, patient, code, answers, total, severity, subscores
):
    response = post(
        api_client(staff["physician"]),
        PHQ9_URL.format(patient.pk),
        {"instrument": code, "answers": answers},
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["instrument"] == code
    assert body["total"] == total
    if severity is not None:
        assert body["severity"] == severity
    if subscores is not None:
        assert body["subscores"] == subscores
    assert body["alerts"] == []
    assert Response.objects.get().total == total


def test_qids_domains_are_the_subscores(api_client, staff, patient):
    answers = [3, 1, 0, 2, 1, 2, 0, 1, 0, 1, 1, 0, 1, 1, 2, 1]
    body = post(
        api_client(staff["physician"]),
        PHQ9_URL.format(patient.pk),
        {"instrument": "qids_sr16", "answers": answers},
    ).json()
    assert sum(body["subscores"].values()) == 12
    assert len(body["subscores"]) == 9


def test_qids_accepts_the_blank_alternative_and_names_a_missing_pair(api_client, staff, patient):
    client = api_client(staff["nurse"])
    answers = [1, 0, 0, 0, 1, 2, None, None, 1, 1, 1, 0, 1, 1, 0, 2]
    body = post(
        client, PHQ9_URL.format(patient.pk), {"instrument": "qids_sr16", "answers": answers}
    ).json()
    assert (body["total"], body["severity"]) == (10, "mild")
    assert body["subscores"]["appetite_weight"] == 2
    assert Response.objects.get().answers == answers
    answers[5] = None  # neither 6 nor 7
    response = post(
        client, PHQ9_URL.format(patient.pk), {"instrument": "qids_sr16", "answers": answers}
    )
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"loc": ["body", "answers.6"], "msg": "item 6: answer item 6 or item 7"}
    ]
    assert Response.objects.count() == 1


@pytest.mark.parametrize(
    ("answers", "severity", "alerts"),
    [
        ([False, False, None, None, None, False, None], "none", []),
        ([True, False, None, None, None, False, None], "low", []),
        ([True, True, True, False, False, False, None], "moderate", [("suicidality", "high")]),
        ([True, True, False, False, False, True, False], "moderate", [("suicidality", "high")]),
        ([True, True, False, True, False, False, None], "high", [("suicidality", "urgent")]),
        ([False, False, None, None, None, True, True], "high", [("suicidality", "urgent")]),
    ],
)
def test_cssrs_screen_answers_a_risk_level_not_a_sum(
    api_client, staff, patient, answers, severity, alerts
):
    body = post(
        api_client(staff["physician"]),
        PHQ9_URL.format(patient.pk),
        {"instrument": "cssrs_screen", "answers": answers},
    ).json()
    assert body["total"] is None
    assert body["severity"] == severity
    assert [(a["code"], a["level"]) for a in body["alerts"]] == alerts
    assert list(Alert.objects.values_list("code", "level")) == alerts


@pytest.mark.parametrize(
    ("instrument", "answers", "field", "words"),
    [
        ("phq9", [0] * 8, "answers", "expected 9 answers, got 8"),
        ("phq9", [0, 0, 0, 4, 0, 0, 0, 0, 0], "answers.4", "item 4: 4 is not one of"),
        ("phq9", [0, 0, 0, True, 0, 0, 0, 0, 0], "answers.4", "item 4: true is not one of"),
        ("gad7", [0, 0, None, 0, 0, 0, 0], "answers.3", "item 3: an answer is required"),
        (
            "cssrs_screen",
            [False, False, True, None, None, False, None],
            "answers.3",
            "must be skipped",
        ),
        (
            "cssrs_screen",
            [True, True, None, False, False, False, None],
            "answers.3",
            "an answer is required",
        ),
        ("nope", [0], "instrument", "Unknown instrument"),
    ],
)
def test_it_refuses_bad_answers_naming_the_item_and_stores_nothing(
    api_client, staff, patient, instrument, answers, field, words
):
    before = AuditEvent.objects.count()
    response = post(
        api_client(staff["nurse"]),
        PHQ9_URL.format(patient.pk),
        {"instrument": instrument, "answers": answers},
    )
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail[0]["loc"] == ["body", field]
    assert words in detail[0]["msg"]
    assert not Response.objects.exists()
    assert not Alert.objects.exists()
    # Only the token-use event; no create.
    assert not AuditEvent.objects.filter(action="create").exists()
    assert AuditEvent.objects.count() - before <= 1


def test_it_refuses_a_time_in_the_future(api_client, staff, patient):
    future = (timezone.now() + timedelta(days=1)).isoformat()
    response = post(
        api_client(staff["nurse"]),
        PHQ9_URL.format(patient.pk),
        {"instrument": "phq9", "answers": [0] * 9, "taken_at": future},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "taken_at"]
    assert not Response.objects.exists()


def test_phq9_prorates_two_skips_and_stores_the_skips(api_client, staff, patient):
    body = post(
        api_client(staff["nurse"]),
        PHQ9_URL.format(patient.pk),
        {"instrument": "phq9", "answers": [2, 2, None, 2, None, 1, 1, 1, 0]},
    ).json()
    # mean of 7 answered = 9/7, x 9 = 11.57 -> 12
    assert body["total"] == 12 and body["severity"] == "moderate"
    assert (body["prorated"], body["missing_items"]) == (True, [3, 5])
    stored = Response.objects.get()
    assert stored.answers[2] is None
    assert (stored.prorated, stored.missing_items) == (True, [3, 5])
    listed = api_client(staff["nurse"]).get(PHQ9_URL.format(patient.pk)).json()["items"][0]
    assert (listed["prorated"], listed["missing_items"]) == (True, [3, 5])


def test_three_skips_answer_no_total_and_name_them(api_client, staff, patient):
    body = post(
        api_client(staff["nurse"]),
        PHQ9_URL.format(patient.pk),
        {"instrument": "phq9", "answers": [None, None, None, 1, 1, 1, 1, 1, 0]},
    ).json()
    assert (body["total"], body["severity"], body["prorated"]) == (None, None, False)
    assert body["missing_items"] == [1, 2, 3]


@pytest.mark.parametrize(
    ("answers", "total", "provisional", "above"),
    [
        # Every item 2: 40 >= 33, and every cluster has enough items at 2+ (B1 C1 D2 E2).
        ([2] * 20, 40, True, True),
        # Clusters met with the fewest items (1 B, 1 C, 2 D, 2 E at 2): total 12, below 33.
        ([2, 0, 0, 0, 0, 2, 0, 2, 2, 0, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0], 12, True, False),
        # B all 4, C 0, D and E all 1: exactly 33 reaches the cut-off, but no C item is
        # at 2+, so the DSM-5 item rule is not met.
        ([4] * 5 + [0, 0] + [1] * 13, 33, False, True),
    ],
)
def test_pcl5_stores_and_answers_the_provisional_diagnosis_and_cutoff(
    api_client, staff, patient, answers, total, provisional, above
):
    client = api_client(staff["physician"])
    body = post(
        client, PHQ9_URL.format(patient.pk), {"instrument": "pcl5", "answers": answers}
    ).json()
    assert (body["total"], body["provisional_diagnosis"], body["above_cutoff"]) == (
        total,
        provisional,
        above,
    )
    stored = Response.objects.get()
    assert (stored.provisional_diagnosis, stored.above_cutoff) == (provisional, above)
    listed = client.get(PHQ9_URL.format(patient.pk)).json()["items"][0]
    assert (listed["provisional_diagnosis"], listed["above_cutoff"]) == (provisional, above)


def test_the_list_is_newest_first_filtered_and_paginated(api_client, staff, patient):
    client = api_client(staff["physician"])
    base = datetime(2026, 10, 1, 9, tzinfo=UTC)
    for week, total in enumerate([20, 15, 9]):
        answers = [3] * (total // 3) + [total % 3] + [0] * (9 - total // 3 - 1)
        assert (
            post(
                client,
                PHQ9_URL.format(patient.pk),
                {
                    "instrument": "phq9",
                    "answers": answers,
                    "taken_at": (base + timedelta(weeks=week)).isoformat(),
                },
            ).status_code
            == 201
        )
    post(client, PHQ9_URL.format(patient.pk), {"instrument": "gad7", "answers": [1] * 7})
    response = client.get(PHQ9_URL.format(patient.pk) + "?instrument=phq9")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [i["total"] for i in body["items"]] == [9, 15, 20]
    assert body["items"][0]["taken_at"] == "2026-10-15T09:00:00Z"
    assert body["items"][0]["source"] == "clinician"
    assert client.get(PHQ9_URL.format(patient.pk)).json()["count"] == 4
    page2 = client.get(PHQ9_URL.format(patient.pk) + "?page=2").json()
    assert page2["items"] == []
    event = AuditEvent.objects.filter(action="view", object_type="measures.response").first()
    assert event.patient_id == patient.pk and len(event.detail["responses"]) == 3


def test_the_front_desk_may_not_read_or_record_measures(api_client, staff, patient):
    client = api_client(staff["front_desk"])
    assert client.get(PHQ9_URL.format(patient.pk)).status_code == 403
    assert (
        post(
            client, PHQ9_URL.format(patient.pk), {"instrument": "phq9", "answers": [0] * 9}
        ).status_code
        == 403
    )
    assert not Response.objects.exists()


def test_instruments_lists_every_shipped_definition(api_client, staff):
    body = api_client(staff["front_desk"]).get("/api/v1/instruments").json()
    codes = [i["code"] for i in body]
    assert codes == sorted(
        [
            "cadss6",
            "cssrs_screen",
            "gad7",
            "madrs",
            "moaas",
            "pain_nrs",
            "pcl5",
            "phq9",
            "qids_sr16",
        ]
    )
    phq9 = next(i for i in body if i["code"] == "phq9")
    assert phq9["version"] == 1 and len(phq9["items"]) == 9
    assert phq9["items"][8]["options"][3] == {"value": 3, "label": "Nearly every day"}
    assert phq9["severity_codes"] == ["minimal", "mild", "moderate", "moderately_severe", "severe"]
    assert phq9["patient_may_fill"] is True
    assert next(i for i in body if i["code"] == "madrs")["patient_may_fill"] is False


def test_a_clinic_adds_its_own_definition_by_directory(api_client, staff, settings, tmp_path):
    from pathlib import Path

    import ketaclinic.clinical.instruments as shipped

    folder = tmp_path / "instruments"
    folder.mkdir()
    source = (Path(shipped.__file__).parent / "definitions" / "pain_nrs.yaml").read_text()
    (folder / "pain.yaml").write_text(source.replace("version: 1", "version: 2", 1))
    settings.KETACLINIC_DATA_DIR = str(tmp_path)
    body = api_client(staff["nurse"]).get("/api/v1/instruments").json()
    assert next(i for i in body if i["code"] == "pain_nrs")["version"] == 2


def _phq(total: int) -> list[int]:
    answers = [0] * 9
    for i in range(total):
        answers[i % 8] += 1
    return answers


def test_outcomes_for_a_baseline_and_follow_ups(api_client, staff, patient):
    """Hand-worked: PHQ-9 20 -> 14 -> 9 -> 4; GAD-7 12 -> 8."""
    client = api_client(staff["physician"])
    base = datetime(2026, 9, 1, 10, tzinfo=UTC)
    for week, total in enumerate([20, 14, 9, 4]):
        assert (
            post(
                client,
                PHQ9_URL.format(patient.pk),
                {
                    "instrument": "phq9",
                    "answers": _phq(total),
                    "taken_at": (base + timedelta(weeks=week)).isoformat(),
                },
            ).status_code
            == 201
        )
    for week, answers in enumerate([[2, 2, 2, 2, 2, 1, 1], [2, 1, 1, 1, 1, 1, 1]]):
        post(
            client,
            PHQ9_URL.format(patient.pk),
            {
                "instrument": "gad7",
                "answers": answers,
                "taken_at": (base + timedelta(weeks=week)).isoformat(),
            },
        )
    post(
        client,
        PHQ9_URL.format(patient.pk),
        {"instrument": "cssrs_screen", "answers": [False, False, None, None, None, False, None]},
    )
    response = client.get(f"/api/v1/patients/{patient.pk}/outcomes")
    assert response.status_code == 200
    assert response.json() == {
        "instruments": [
            # (12 - 8) = -4, -4/12 = -33.3 %: no response, 8 is not < 5.
            {
                "instrument": "gad7",
                "baseline": 12,
                "baseline_before_treatment": True,
                "latest": 8,
                "change": -4,
                "percent_change": -33.3,
                "response": False,
                "remission": False,
                "count": 2,
            },
            # 20 -> 4: -16, -80 %, response (>= 50 %), remission (4 < 5).
            {
                "instrument": "phq9",
                "baseline": 20,
                "baseline_before_treatment": True,
                "latest": 4,
                "change": -16,
                "percent_change": -80.0,
                "response": True,
                "remission": True,
                "count": 4,
            },
        ]
    }
    assert AuditEvent.objects.filter(action="view", detail__view="outcomes").count() == 1


def test_outcomes_take_the_last_score_before_the_first_treatment_as_baseline(
    api_client, staff, patient, clinic
):
    """PHQ-9 22, 20 before the first dose; 12, 8 after: baseline 20 (DOMAIN.md §6.1)."""
    client = api_client(staff["physician"])
    base = datetime(2026, 9, 1, 10, tzinfo=UTC)
    for week, total in enumerate([22, 20, 12, 8]):
        post(
            client,
            PHQ9_URL.format(patient.pk),
            {
                "instrument": "phq9",
                "answers": _phq(total),
                "taken_at": (base + timedelta(weeks=week)).isoformat(),
            },
        )
    dosed_session(clinic, patient, staff["physician"], base + timedelta(weeks=1, days=2))
    dosed_session(clinic, patient, staff["physician"], base + timedelta(weeks=1, days=4))
    assert client.get(f"/api/v1/patients/{patient.pk}/outcomes").json() == {
        "instruments": [
            # 20 -> 8: -12, -60 %: a response; 8 is not < 5, so no remission.
            {
                "instrument": "phq9",
                "baseline": 20,
                "baseline_before_treatment": True,
                "latest": 8,
                "change": -12,
                "percent_change": -60.0,
                "response": True,
                "remission": False,
                "count": 4,
            }
        ]
    }


def test_outcomes_with_one_score_have_no_judgement_yet(api_client, staff, patient):
    client = api_client(staff["physician"])
    post(client, PHQ9_URL.format(patient.pk), {"instrument": "phq9", "answers": _phq(16)})
    assert client.get(f"/api/v1/patients/{patient.pk}/outcomes").json()["instruments"] == [
        {
            "instrument": "phq9",
            "baseline": 16,
            "baseline_before_treatment": True,
            "latest": 16,
            "change": None,
            "percent_change": None,
            "response": None,
            "remission": None,
            "count": 1,
        }
    ]


def test_a_patient_dosed_before_any_score_is_not_reported_as_a_response(
    api_client, staff, patient, clinic
):
    """First dose on 1 Sep, PHQ-9 16 on 3 Sep then 4: no true baseline, so no judgement."""
    client = api_client(staff["physician"])
    base = datetime(2026, 9, 1, 10, tzinfo=UTC)
    dosed_session(clinic, patient, staff["physician"], base)
    for days, total in ((2, 16), (16, 4)):
        post(
            client,
            PHQ9_URL.format(patient.pk),
            {
                "instrument": "phq9",
                "answers": _phq(total),
                "taken_at": (base + timedelta(days=days)).isoformat(),
            },
        )
    assert client.get(f"/api/v1/patients/{patient.pk}/outcomes").json()["instruments"] == [
        {
            "instrument": "phq9",
            "baseline": 16,
            "baseline_before_treatment": False,
            "latest": 4,
            "change": -12,
            "percent_change": -75.0,
            "response": None,
            "remission": None,
            "count": 2,
        }
    ]


def test_another_clinic_sees_404_and_changes_nothing(api_client, outsider, patient, staff):
    post(
        api_client(staff["nurse"]),
        PHQ9_URL.format(patient.pk),
        {"instrument": "phq9", "answers": [0, 0, 0, 0, 0, 0, 0, 0, 1]},
    )
    alert = Alert.objects.get()
    client = api_client(outsider)
    assert (
        post(
            client, PHQ9_URL.format(patient.pk), {"instrument": "phq9", "answers": [0] * 9}
        ).status_code
        == 404
    )
    assert client.get(PHQ9_URL.format(patient.pk)).status_code == 404
    assert client.get(f"/api/v1/patients/{patient.pk}/outcomes").status_code == 404
    assert (
        post(
            client, f"/api/v1/alerts/{alert.pk}/resolve", {"action": "safety_plan", "note": "x"}
        ).status_code
        == 404
    )
    assert client.get("/api/v1/alerts").json()["items"] == []
    assert Response.objects.count() == 1
    alert.refresh_from_db()
    assert alert.status == "open"
