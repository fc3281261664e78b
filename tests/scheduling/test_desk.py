"""The front desk: book one appointment from the board, move one, Today's arrivals, home pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ketaclinic.audit.models import AuditEvent
from ketaclinic.scheduling import services
from ketaclinic.scheduling.models import Appointment, Room
from tests.scheduling.conftest import actor, at, next_monday

pytestmark = pytest.mark.django_db

BOOKERS = ["admin", "physician", "nurse", "front_desk"]


def form(patient, room, day, **extra):
    data = {
        "action": "book",
        "patient": patient.pk,
        "kind": "consultation",
        "day": day.isoformat(),
        "start_time": "10:00",
        "minutes": "60",
        "room": room.pk,
        "staff": "",
        "course": "",
    }
    return data | extra


def consult(clinic, staff, floor, patient, day, hh=10, **extra):
    """A consultation (or another talking kind) booked through the service."""
    slot = services.make_slot(
        patient=patient,
        kind=extra.pop("kind", "consultation"),
        room=floor["Consult 1"],
        start=at(clinic, day, hh),
        staff=extra.pop("with_staff", None),
    )
    return services.book_appointment(actor=actor(staff["front_desk"]), slot=slot)


# --- booking -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", BOOKERS)
def test_it_books_a_consultation_from_the_form(role, clinic, staff, floor, patient, login):
    monday = next_monday()
    data = form(patient, floor["Consult 1"], monday, staff=staff["physician"].pk)
    response = login(staff[role]).post("/schedule/book/", data)

    assert response.status_code == 302
    assert response["Location"] == f"/schedule/?day={monday}"
    booked = Appointment.objects.get()
    assert (booked.kind, booked.room, booked.staff, booked.status) == (
        "consultation",
        floor["Consult 1"],
        staff["physician"],
        "booked",
    )
    assert (booked.start, booked.end) == (at(clinic, monday, 10), at(clinic, monday, 11))
    assert AuditEvent.objects.filter(action="book", object_id=str(booked.pk)).count() == 1


def test_in_the_dialog_a_booking_answers_in_place_and_tells_the_board(staff, floor, patient, login):
    client = login(staff["front_desk"])
    data = form(patient, floor["Consult 1"], next_monday(), kind="preparation", minutes="")
    response = client.post("/schedule/book/", data, headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert response["HX-Trigger"] == "schedule-changed"
    assert "✓ Booked" in response.text and "Maria Garcia" in response.text
    booked = Appointment.objects.get()
    assert booked.kind == "preparation"
    assert booked.end - booked.start == timedelta(minutes=60)  # the kind's default


def test_a_clicked_slot_prefills_the_dialog(staff, floor, login):
    monday = next_monday()
    response = login(staff["front_desk"]).get(
        f"/schedule/book/?day={monday}&time=09:30&room={floor['Consult 1'].pk}",
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert "<html" not in response.text  # the dialog's form alone
    assert f'value="{monday}"' in response.text and 'value="09:30"' in response.text
    assert (
        f'value="{floor["Consult 1"].pk}" data-room-kind="consult_room" selected' in response.text
    )
    assert 'value="consultation" data-room-kind="consult_room" data-minutes="60" selected' in (
        response.text
    )


def test_a_chair_slot_prefills_a_treatment(staff, floor, login):
    response = login(staff["front_desk"]).get(
        f"/schedule/book/?day={next_monday()}&time=09:00&room={floor['Chair 1'].pk}"
    )
    assert 'value="treatment" data-room-kind="treatment_chair" data-minutes="" selected' in (
        response.text
    )


def test_the_patient_search_travels_in_the_body_and_is_audited(staff, floor, patient, login):
    client = login(staff["front_desk"])
    response = client.post("/schedule/book/?day=2030-01-07", {"action": "search", "q": "garc"})
    assert response.status_code == 200
    assert f'name="choose" value="{patient.pk}"' in response.text
    assert "Garcia, Maria" in response.text
    search = AuditEvent.objects.get(action="search")
    assert search.detail == {"shown": [patient.pk]}
    assert "garc" not in str(search.detail)
    chosen = client.post("/schedule/book/", {"choose": patient.pk, "kind": "consultation"})
    assert "Change patient" in chosen.text and f'name="patient" value="{patient.pk}"' in chosen.text
    assert "Choose a patient" not in chosen.text  # choosing is not submitting
    assert Appointment.objects.count() == 0


def test_conflicts_are_shown_in_place_as_the_api_computes_them(
    clinic, staff, floor, patient, login, api_client
):
    monday = next_monday()
    consult(clinic, staff, floor, patient, monday)
    client = login(staff["front_desk"])
    data = form(patient, floor["Consult 1"], monday)
    api = api_client(staff["front_desk"]).post(
        "/api/v1/appointments",
        {
            "patient": patient.pk,
            "kind": "consultation",
            "room": floor["Consult 1"].pk,
            "start": at(clinic, monday, 10).isoformat(),
        },
        content_type="application/json",
    )
    assert api.status_code == 409
    messages = [c["message"] for c in api.json()["conflicts"]]
    assert messages  # the room is taken and the patient is busy

    refused = client.post("/schedule/book/", data)
    assert refused.status_code == 200
    assert "⛔ Refused" in refused.text
    for message in messages:
        assert message in refused.text
    checked = client.post("/schedule/book/", data | {"action": "check"})
    assert "This booking would be refused" in checked.text
    for message in messages:
        assert message in checked.text
    assert Appointment.objects.count() == 1
    free = client.post("/schedule/book/", data | {"action": "check", "start_time": "14:00"})
    assert "✓ Free" in free.text
    assert Appointment.objects.count() == 1


def test_a_single_treatment_is_booked_for_the_patients_course(
    clinic, staff, floor, patient, course, login
):
    monday = next_monday()
    data = form(patient, floor["Chair 1"], monday, kind="treatment", minutes="", course=course.pk)
    response = login(staff["front_desk"]).post("/schedule/book/", data)

    assert response.status_code == 302, response.context and response.context["form"].errors
    booked = Appointment.objects.get()
    assert (booked.kind, booked.course, booked.room) == ("treatment", course, floor["Chair 1"])
    assert booked.staff == staff["nurse"]  # a free nurse is assigned


def test_a_treatment_without_a_course_or_in_a_consult_room_is_refused_by_the_field(
    staff, floor, patient, course, login
):
    client = login(staff["front_desk"])
    monday = next_monday()
    no_course = client.post(
        "/schedule/book/", form(patient, floor["Chair 1"], monday, kind="treatment")
    )
    assert no_course.context["form"].errors["course"] == [
        "A treatment is booked for one of the patient's courses."
    ]
    wrong_room = client.post("/schedule/book/", form(patient, floor["Chair 1"], monday))
    assert wrong_room.context["form"].errors["room"] == [
        "A consultation needs an active consult room."
    ]
    assert Appointment.objects.count() == 0


@pytest.mark.parametrize("role", BOOKERS)
def test_an_empty_booking_names_each_missing_field(role, staff, floor, login):
    response = login(staff[role]).post("/schedule/book/", {"action": "book"})

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"patient", "kind", "day", "start_time", "room"}
    assert errors["patient"] == ["Choose a patient."]
    assert Appointment.objects.count() == 0


HOSTILE = [
    ({"day": "9999-12-31"}, "day", "Book at most two years ahead."),
    ({"day": "2001-01-01"}, "day", "That day has passed."),
    ({"start_time": "25:99"}, "start_time", "Enter a valid time."),
    ({"minutes": "99999999999999999999"}, "minutes", "less than or equal to 720"),
    ({"minutes": "\x00"}, "minutes", "Enter a whole number."),
    ({"kind": "<script>alert(1)</script>"}, "kind", "Select a valid choice."),
    ({"room": "9" * 10_000}, "room", "Select a valid choice."),
    ({"patient": "x" * 10_000}, "patient", "Enter a whole number."),
]


@pytest.mark.parametrize(("change", "field", "message"), HOSTILE)
def test_hostile_booking_input_is_refused_by_the_field(
    change, field, message, staff, floor, patient, login
):
    data = form(patient, floor["Consult 1"], next_monday()) | change
    response = login(staff["front_desk"]).post("/schedule/book/", data)

    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert Appointment.objects.count() == 0


def test_a_hostile_search_is_harmless(staff, floor, patient, login):
    client = login(staff["front_desk"])
    for q in ("\x00", "x" * 10_000, "<script>alert(1)</script>", "9999-12-31"):
        response = client.post("/schedule/book/", {"action": "search", "q": q})
        assert response.status_code == 200
        assert "<script>alert(1)</script>" not in response.text


def test_a_patient_or_room_of_another_clinic_cannot_be_booked(
    clinic, other_clinic, staff, floor, patient, login
):
    from ketaclinic.patients.models import Patient

    stranger = Patient.objects.create(
        clinic=other_clinic,
        mrn="N1",
        given_name="Other",
        family_name="Clinic",
        birth_date=patient.birth_date,
        sex_at_birth="male",
    )
    their_room = Room.objects.create(clinic=other_clinic, name="Theirs", kind="consult_room")
    client = login(staff["front_desk"])
    theirs = client.post("/schedule/book/", form(stranger, floor["Consult 1"], next_monday()))
    assert theirs.context["form"].errors["patient"] == ["Choose a patient."]
    room = client.post("/schedule/book/", form(patient, their_room, next_monday()))
    assert "room" in room.context["form"].errors
    assert Appointment.objects.count() == 0


def test_a_therapist_cannot_book_or_move_and_nothing_changes(clinic, staff, floor, patient, login):
    monday = next_monday()
    booked = consult(clinic, staff, floor, patient, monday)
    client = login(staff["therapist"])
    assert client.get("/schedule/book/").status_code == 403
    assert (
        client.post("/schedule/book/", form(patient, floor["Consult 1"], monday)).status_code == 403
    )
    moved = client.post(
        f"/schedule/appointments/{booked.pk}/move/",
        {"day": monday.isoformat(), "start_time": "14:00", "room": floor["Consult 1"].pk},
    )
    assert moved.status_code == 403
    assert list(Appointment.objects.values_list("start", flat=True)) == [at(clinic, monday, 10)]
    # Nor does the board offer them the slots.
    board = client.get(f"/schedule/?day={monday}")
    assert "/schedule/book/" not in board.text and "draggable" not in board.text


def test_the_board_offers_free_future_slots_and_draggable_cards(
    clinic, staff, floor, patient, login
):
    monday = next_monday()
    booked = consult(clinic, staff, floor, patient, monday)
    board = login(staff["front_desk"]).get(f"/schedule/?day={monday}")
    assert (
        f'href="/schedule/book/?day={monday}&amp;time=08:00&amp;room={floor["Chair 1"].pk}"'
        in board.text
    )
    assert (
        f'draggable="true" data-move-url="/schedule/appointments/{booked.pk}/move/"' in board.text
    )
    # The phone's list carries the same appointment.
    assert 'class="day-list plain"' in board.text
    week = login(staff["front_desk"]).get(f"/schedule/week/?day={monday}")
    assert f'href="/schedule/appointments/{booked.pk}/move/" data-dialog>Move' in week.text


def test_every_movable_card_on_the_day_board_has_a_keyboard_move_button(
    clinic, staff, floor, patient, login
):
    """Drag-and-drop's alternative on the board itself: a "Move" link per card (grid and
    phone list), opening the Move dialog; a therapist, who cannot move, sees none."""
    monday = next_monday()
    booked = consult(clinic, staff, floor, patient, monday)
    move = f'<a class="move-link" href="/schedule/appointments/{booked.pk}/move/" data-dialog>Move'
    board = login(staff["front_desk"]).get(f"/schedule/?day={monday}")
    assert board.text.count(move) == 2
    assert "Maria Garcia, Mon" in board.text  # the link names whom it moves, for a reader
    assert move not in login(staff["therapist"]).get(f"/schedule/?day={monday}").text


# --- moving -------------------------------------------------------------------------------


def test_a_move_rechecks_conflicts_and_shows_them_in_place(clinic, staff, floor, patient, login):
    from ketaclinic.patients.models import Patient

    monday = next_monday()
    mine = consult(clinic, staff, floor, patient, monday, hh=10)
    other = Patient.objects.create(
        clinic=clinic,
        mrn="MRN000777",
        given_name="Ben",
        family_name="Okoro",
        birth_date=patient.birth_date,
        sex_at_birth="male",
    )
    consult(clinic, staff, floor, other, monday, hh=14)
    client = login(staff["front_desk"])
    url = f"/schedule/appointments/{mine.pk}/move/"
    onto = {"day": monday.isoformat(), "start_time": "14:00", "room": floor["Consult 1"].pk}

    refused = client.post(url, onto, headers={"HX-Request": "true"})
    assert refused.status_code == 200
    assert "⛔ Refused" in refused.text and "room" in refused.text.lower()
    mine.refresh_from_db()
    assert mine.start == at(clinic, monday, 10)

    moved = client.post(url, onto | {"start_time": "15:30"}, headers={"HX-Request": "true"})
    assert moved["HX-Trigger"] == "schedule-changed" and "✓ Moved" in moved.text
    mine.refresh_from_db()
    assert (mine.start, mine.end) == (at(clinic, monday, 15, 30), at(clinic, monday, 16, 30))
    assert AuditEvent.objects.filter(action="move", object_id=str(mine.pk)).count() == 1


@pytest.mark.parametrize("role", BOOKERS)
def test_the_move_form_works_without_javascript(role, clinic, staff, floor, patient, login):
    monday = next_monday()
    mine = consult(clinic, staff, floor, patient, monday)
    client = login(staff[role])
    url = f"/schedule/appointments/{mine.pk}/move/"
    assert client.get(url).status_code == 200
    empty = client.post(url, {})
    assert set(empty.context["form"].errors) == {"day", "start_time", "room"}
    hostile = client.post(url, {"day": "9999-12-31", "start_time": "10:00", "room": "\x00"})
    assert hostile.status_code == 200
    moved = client.post(
        url,
        {
            "day": (monday + timedelta(days=1)).isoformat(),
            "start_time": "10:00",
            "room": floor["Consult 1"].pk,
        },
    )
    assert moved.status_code == 302
    mine.refresh_from_db()
    assert mine.start == at(clinic, monday + timedelta(days=1), 10)


# --- Today ---------------------------------------------------------------------------------


def test_today_lists_todays_arrivals_and_checks_one_in(
    clinic, staff, floor, patient, login, as_if_today
):
    monday = next_monday()
    as_if_today(monday)
    first = consult(clinic, staff, floor, patient, monday, hh=9)
    client = login(staff["front_desk"])
    page = client.get("/today/")
    assert page.status_code == 200
    assert "Maria Garcia" in page.text and "Check in" in page.text

    response = client.post(
        f"/today/appointments/{first.pk}/status/",
        {"status": "checked_in"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert "✓ Arrived" in response.text and "Undo check-in" in response.text
    first.refresh_from_db()
    assert first.status == "checked_in"

    undone = client.post(f"/today/appointments/{first.pk}/status/", {"status": "booked"})
    assert undone.status_code == 302
    first.refresh_from_db()
    assert first.status == "booked"


def test_another_days_appointment_cannot_be_checked_in_by_page_or_api(
    clinic, staff, floor, patient, login, api_client
):
    tomorrow_or_later = next_monday()
    appointment = consult(clinic, staff, floor, patient, tomorrow_or_later)
    page = login(staff["front_desk"]).post(
        f"/today/appointments/{appointment.pk}/status/", {"status": "checked_in"}
    )
    assert page.status_code == 302
    api = api_client(staff["front_desk"]).patch(
        f"/api/v1/appointments/{appointment.pk}",
        {"status": "checked_in"},
        content_type="application/json",
    )
    assert api.status_code == 422
    assert api.json()["detail"][0]["loc"][-1] == "status"
    assert "Only today's appointments can be checked in" in api.json()["detail"][0]["msg"]
    no_show = api_client(staff["front_desk"]).patch(
        f"/api/v1/appointments/{appointment.pk}",
        {"status": "no_show"},
        content_type="application/json",
    )
    assert no_show.status_code == 422
    appointment.refresh_from_db()
    assert appointment.status == "booked"


def test_a_late_patient_is_marked_and_can_be_a_no_show(
    clinic, staff, floor, patient, login, as_if_today, monkeypatch
):
    monday = next_monday()
    as_if_today(monday)
    appointment = consult(clinic, staff, floor, patient, monday, hh=9)
    later = at(clinic, monday, 9, 25)
    monkeypatch.setattr(timezone, "now", lambda: later)
    client = login(staff["front_desk"])
    page = client.get("/today/")
    assert "⚠ Late 25 min" in page.text and "No-show" in page.text
    client.post(f"/today/appointments/{appointment.pk}/status/", {"status": "no_show"})
    appointment.refresh_from_db()
    assert appointment.status == "no_show"
    assert "✗ No-show" in client.get("/today/").text


@pytest.mark.parametrize("status", ["", "cancelled", "completed", "\x00", "x" * 10_000])
def test_today_accepts_only_the_desks_three_changes(
    status, clinic, staff, floor, patient, login, as_if_today
):
    monday = next_monday()
    as_if_today(monday)
    appointment = consult(clinic, staff, floor, patient, monday)
    response = login(staff["front_desk"]).post(
        f"/today/appointments/{appointment.pk}/status/", {"status": status}
    )
    assert response.status_code == 302
    appointment.refresh_from_db()
    assert appointment.status == "booked"


def test_a_therapist_sees_today_but_cannot_check_in(
    clinic, staff, floor, patient, login, as_if_today
):
    monday = next_monday()
    as_if_today(monday)
    appointment = consult(clinic, staff, floor, patient, monday)
    client = login(staff["therapist"])
    page = client.get("/today/")
    assert page.status_code == 200 and "Check in" not in page.text
    refused = client.post(f"/today/appointments/{appointment.pk}/status/", {"status": "checked_in"})
    assert refused.status_code == 403
    appointment.refresh_from_db()
    assert appointment.status == "booked"


def test_another_clinics_appointment_is_not_found(
    clinic, staff, floor, patient, outsider, login, as_if_today
):
    monday = next_monday()
    as_if_today(monday)
    appointment = consult(clinic, staff, floor, patient, monday)
    client = login(outsider)
    assert (
        client.post(
            f"/today/appointments/{appointment.pk}/status/", {"status": "checked_in"}
        ).status_code
        == 404
    )
    assert client.get(f"/schedule/appointments/{appointment.pk}/move/").status_code == 404
    appointment.refresh_from_db()
    assert appointment.status == "booked"


# --- where each role lands ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "home"),
    [
        ("front_desk", "/today/"),
        ("nurse", "/treatment/board/"),
        ("physician", "/my-day/"),
        ("therapist", "/caseload/"),
        # This clinic's set-up is not complete: its admin lands on the checklist.
        ("admin", "/setup/"),
    ],
)
def test_each_role_lands_where_its_work_is(role, home, staff, login):
    response = login(staff[role]).get("/home/")
    assert response.status_code == 302 and response["Location"] == home
    assert login(staff[role]).get(home).status_code == 200


def test_the_physician_opens_todays_consultation_from_their_day(
    clinic, staff, floor, patient, login, as_if_today
):
    monday = next_monday()
    as_if_today(monday)
    consult(clinic, staff, floor, patient, monday, with_staff=staff["physician"])
    page = login(staff["physician"]).get("/my-day/")
    assert f'href="/screening/patients/{patient.pk}/consultation/"' in page.text
    assert "Open consultation" in page.text
    assert "No open alerts" in page.text
    # Someone else's appointment is not on their list.
    assert "Maria Garcia" not in login(staff["nurse"]).get("/my-day/").text


def test_a_therapist_sees_their_caseload(clinic, staff, floor, patient, login):
    consult(
        clinic,
        staff,
        floor,
        patient,
        next_monday(),
        kind="integration",
        with_staff=staff["therapist"],
    )
    page = login(staff["therapist"]).get("/caseload/")
    assert "Maria Garcia" in page.text and "Integration" in page.text
    assert "Maria Garcia" not in login(staff["physician"]).get("/caseload/").text


def test_today_costs_the_same_queries_however_many_arrive(
    clinic, staff, floor, patient, login, as_if_today
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from ketaclinic.patients.models import Patient

    monday = next_monday()
    as_if_today(monday)
    client = login(staff["front_desk"])
    consult(clinic, staff, floor, patient, monday, hh=8)

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/today/").status_code == 200
        return len(ctx.captured_queries)

    few = queries()
    for hour in range(9, 17):
        other = Patient.objects.create(
            clinic=clinic,
            mrn=f"MRN0009{hour:02d}",
            given_name="P",
            family_name=f"Test{hour}",
            birth_date=patient.birth_date,
            sex_at_birth="female",
        )
        consult(clinic, staff, floor, other, monday, hh=hour)
    assert queries() == few


def test_the_nurse_starts_a_checked_in_treatment_from_its_appointment(
    clinic, staff, floor, patient, course, login, as_if_today, no_gate
):
    monday = next_monday()
    as_if_today(monday)
    services.activate_course(actor=actor(staff["physician"]), course=course)
    treatment = services.book_appointment(
        actor=actor(staff["front_desk"]),
        slot=services.make_slot(
            patient=patient,
            kind="treatment",
            room=floor["Chair 1"],
            start=at(clinic, monday, 9),
            course=course,
        ),
    )
    services.update_appointment(
        actor=actor(staff["front_desk"]), appointment=treatment, status="checked_in"
    )
    start_url = f'action="/treatment/appointments/{treatment.pk}/start/"'
    assert start_url in login(staff["nurse"]).get(f"/schedule/appointments/{treatment.pk}/").text
    assert start_url in login(staff["nurse"]).get("/today/").text
    assert start_url not in login(staff["front_desk"]).get("/today/").text


def test_hostile_addresses_answer_plainly(clinic, staff, floor, patient, login):
    client = login(staff["front_desk"])
    mine = consult(clinic, staff, floor, patient, next_monday())
    far = client.post(
        f"/schedule/appointments/{mine.pk}/move/",
        {"day": "9999-12-31", "start_time": "23:45", "room": floor["Consult 1"].pk},
    )
    assert far.context["form"].errors["day"] == ["Choose a day within two years of today."]
    hostile = "day=9999-12-31&time=23:45&room=abc&staff=<script>&kind=zzz&patient=" + "9" * 30
    assert client.get(f"/schedule/book/?{hostile}").status_code == 200
    for page in ("/schedule/", "/schedule/week/"):
        for day in ("9999-12-31", "0001-01-01", "\x00"):
            assert client.get(page, {"day": day}).status_code == 200
    mine.refresh_from_db()
    assert mine.start == at(clinic, next_monday(), 10)


def test_the_api_checks_a_booking_without_writing_it(clinic, staff, floor, patient, api_client):
    monday = next_monday()
    consult(clinic, staff, floor, patient, monday)
    body = {
        "patient": patient.pk,
        "kind": "preparation",
        "room": floor["Consult 1"].pk,
        "start": at(clinic, monday, 10, 30).isoformat(),
    }
    desk = api_client(staff["front_desk"])
    busy = desk.post("/api/v1/appointments/check", body, content_type="application/json")
    assert busy.status_code == 200
    assert {c["code"] for c in busy.json()["conflicts"]} == {"patient_busy", "room_taken"}
    free = desk.post(
        "/api/v1/appointments/check",
        body | {"start": at(clinic, monday, 15).isoformat()},
        content_type="application/json",
    )
    assert free.json() == {"conflicts": []}
    chair = desk.post(
        "/api/v1/appointments/check",
        body | {"room": floor["Chair 1"].pk},
        content_type="application/json",
    )
    assert chair.status_code == 422 and chair.json()["detail"][0]["loc"][-1] == "room"
    refused = api_client(staff["therapist"]).post(
        "/api/v1/appointments/check", body, content_type="application/json"
    )
    assert refused.status_code == 403
    assert Appointment.objects.count() == 1
