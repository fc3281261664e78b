"""Input no column can hold is a 422 naming the field (or a 404 for an id), never a 500.

Each case below answered 500 under schemathesis (issue 14); all are refused in one place
(ketaclinic/api_safety.py) after the role check, and nothing is stored.
"""

from __future__ import annotations

import json

import pytest

from ketaclinic.patients.models import Patient
from ketaclinic.scheduling.models import Appointment, OpeningHours

pytestmark = pytest.mark.django_db

NEW = {
    "given_name": "Omar",
    "family_name": "Haddad",
    "birth_date": "1990-05-01",
    "sex_at_birth": "male",
}


def post(client, url, raw: str):
    return client.post(url, raw, content_type="application/json")


def put(client, url, raw: str):
    return client.put(url, raw, content_type="application/json")


def locs(response) -> list[list]:
    return [error["loc"] for error in response.json()["detail"]]


def test_a_nul_byte_in_a_search_is_refused_naming_the_query_field(staff, patient, api_client):
    response = api_client(staff["nurse"]).get("/api/v1/patients?q=a%00b")
    assert response.status_code == 422
    assert locs(response) == [["query", "q"]]
    assert "NUL" in response.json()["detail"][0]["msg"]


@pytest.mark.parametrize(("text", "problem"), [("Om\\u0000ar", "NUL"), ("Om\\ud800ar", "Unicode")])
def test_unstorable_text_in_a_body_is_refused_naming_the_field(text, problem, staff, api_client):
    raw = json.dumps(NEW).replace('"Omar"', f'"{text}"')
    response = post(api_client(staff["front_desk"]), "/api/v1/patients", raw)
    assert response.status_code == 422
    assert locs(response) == [["body", "given_name"]]
    assert problem in response.json()["detail"][0]["msg"]
    assert not Patient.objects.exists()


def test_text_nested_in_a_list_is_named_by_its_position(staff, api_client):
    raw = '{"hours": [{"weekday": 0, "starts": "09:00", "ends": "1\\u00007:00"}]}'
    response = put(api_client(staff["admin"]), "/api/v1/opening-hours", raw)
    assert response.status_code == 422
    assert locs(response) == [["body", "hours", 0, "ends"]]


@pytest.mark.parametrize("number", ["1e308", "9223372036854775808", "-1e19"])
def test_a_number_beyond_64_bits_is_refused_naming_the_field(number, staff, api_client):
    raw = json.dumps(NEW)[:-1] + f', "weight_kg": {number}}}'
    response = post(api_client(staff["front_desk"]), "/api/v1/patients", raw)
    assert response.status_code == 422
    assert locs(response) == [["body", "weight_kg"]]
    assert not Patient.objects.exists()


@pytest.mark.parametrize(
    "path", ["/api/v1/patients/{}", "/api/v1/courses/{}", "/api/v1/sessions/{}"]
)
def test_an_id_above_2_to_the_63_is_not_found(path, staff, api_client):
    response = api_client(staff["physician"]).get(path.format(2**63))
    assert response.status_code == 404
    assert set(response.json()) == {"detail"}


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/patients?page=9223372036854775808",
        "/api/v1/patients?page=400000000000000000",
        "/api/v1/audit/events?patient=9223372036854775808",
        "/api/v1/rems-forms?page=9223372036854775807",
    ],
)
def test_a_page_or_filter_beyond_what_the_database_holds_is_refused(url, staff, api_client):
    response = api_client(staff["admin"]).get(url)
    assert response.status_code == 422
    assert locs(response)[0][-1] == url.split("?")[1].split("=")[0]


@pytest.mark.parametrize("starts", ["09:00+05:00", "09:00Z"])
def test_a_time_of_day_with_an_offset_is_refused_naming_the_field(starts, staff, api_client):
    body = {"hours": [{"weekday": 0, "starts": starts, "ends": "17:00"}]}
    response = put(api_client(staff["admin"]), "/api/v1/opening-hours", json.dumps(body))
    assert response.status_code == 422
    assert locs(response)[0][-1] == "starts"
    assert not OpeningHours.objects.exists()


def test_the_role_check_answers_before_the_input_check(staff, api_client):
    raw = json.dumps(NEW).replace('"Omar"', '"Om\\u0000ar"')
    response = post(api_client(staff["therapist"]), "/api/v1/patients", raw)
    assert response.status_code == 403
    assert api_client(staff["therapist"]).get("/api/v1/audit/events?patient=%00").status_code == 403


def test_an_oversized_body_answers_json_413(staff, api_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    raw = json.dumps({**NEW, "address": "x" * 2000})
    response = post(api_client(staff["front_desk"]), "/api/v1/patients", raw)
    assert response.status_code == 413
    assert response.json() == {"detail": "The request body is larger than the 1000-byte limit."}
    assert not Patient.objects.exists()


def test_the_openapi_document_lists_each_routes_error_answers_and_types_times(client):
    document = client.get("/api/v1/openapi.json").json()
    paths = document["paths"]
    assert set(paths["/api/v1/patients/{patient_id}"]["get"]["responses"]) == {
        "200", "401", "403", "404", "422"
    }  # fmt: skip
    assert set(paths["/api/v1/patients"]["post"]["responses"]) == {
        "201", "401", "403", "404", "413", "422"
    }  # fmt: skip
    assert set(paths["/api/v1/instruments"]["get"]["responses"]) == {"200", "401", "403"}
    assert "409" in paths["/api/v1/appointments"]["post"]["responses"]
    assert "409" in paths["/api/v1/patients/{patient_id}"]["patch"]["responses"]  # stale version
    interval = document["components"]["schemas"]["IntervalIn"]["properties"]["starts"]
    assert interval.get("format") != "time"  # RFC 3339 full-time would require an offset
    assert interval["type"] == "string" and interval["pattern"].startswith("^")


def test_a_body_nested_beyond_reason_is_a_client_error(staff, api_client):
    raw = "[" * 100_000 + "]" * 100_000
    response = post(api_client(staff["front_desk"]), "/api/v1/patients", raw)
    assert response.status_code == 400
    assert not Patient.objects.exists()


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_a_day_at_the_end_of_the_calendar_is_refused_naming_the_field(day, staff, api_client):
    # The day's window (the next midnight, in the clinic's zone) used to overflow: 500.
    response = api_client(staff["front_desk"]).get(f"/api/v1/appointments?day={day}")
    assert response.status_code == 422
    assert locs(response) == [["query", "day"]]
    assert response.json()["detail"][0]["msg"] == "must be a date between 1900 and 2999"


def test_a_booking_at_the_end_of_the_calendar_is_refused_naming_the_field(
    staff, patient, api_client
):
    body = {
        "patient": patient.pk,
        "kind": "consultation",
        "room": 1,
        "start": "9999-12-31T23:00:00-05:00",
    }
    response = post(api_client(staff["front_desk"]), "/api/v1/appointments", json.dumps(body))
    assert response.status_code == 422
    assert locs(response) == [["body", "start"]]
    assert not Appointment.objects.exists()
