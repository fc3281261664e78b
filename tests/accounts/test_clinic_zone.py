"""Staff pages show times in the clinic's zone, looked up only when a page shows a time."""

from __future__ import annotations

import pickle
import zoneinfo
from datetime import UTC, datetime, timedelta

from django.test import RequestFactory
from django.utils import timezone
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ketaclinic.accounts.middleware import ClinicZone
from tests import builders

ZONES = ["America/New_York", "America/Los_Angeles", "Pacific/Honolulu", "Europe/London"]


def test_a_health_check_with_a_staff_cookie_reads_nothing(login, staff, django_assert_num_queries):
    nurse = login(staff["nurse"])
    with django_assert_num_queries(0):
        assert nurse.get("/healthz").status_code == 200


def test_the_day_board_shows_times_where_the_clinic_is(login, staff, clinic, patient):
    clinic.timezone = "Pacific/Honolulu"  # UTC-10 all year
    clinic.save()
    day = clinic.today()
    start = datetime(
        day.year, day.month, day.day, 10, 35, tzinfo=zoneinfo.ZoneInfo(clinic.timezone)
    )
    builders.appointment(
        clinic, patient, None, builders.chair(clinic), start=start, status="booked"
    )
    page = login(staff["front_desk"]).get(f"/schedule/?day={day.isoformat()}")
    text = page.content.decode()
    assert "10:35" in text
    assert start.astimezone(UTC).strftime("%H:%M") not in text  # 20:35 in UTC


class _Anonymous:
    is_authenticated = False


@settings(max_examples=300, deadline=None)
@given(
    instant=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)),
    name=st.sampled_from(ZONES),
)
# The repeated hour in London, first and second time round (CI found the second).
@example(instant=datetime(2010, 10, 31, 0, 30), name="Europe/London")
@example(instant=datetime(2010, 10, 31, 1, 0), name="Europe/London")
def test_clinic_zone_converts_as_the_zone_it_stands_for(instant, name):
    """Every instant, across daylight-saving changes and their repeated hour, reads the same
    wall time, offset and fold through the lazy zone as through the ZoneInfo itself."""
    zone = zoneinfo.ZoneInfo(name)
    request = RequestFactory().get("/")
    request.user = _Anonymous()
    lazy = ClinicZone(request)
    lazy.__dict__["zone"] = zone  # as resolved for a member of a clinic in `name`
    utc = instant.replace(tzinfo=UTC)
    through_lazy, through_zone = timezone.localtime(utc, lazy), timezone.localtime(utc, zone)
    assert through_lazy.replace(tzinfo=None) == through_zone.replace(tzinfo=None)
    assert through_lazy.fold == through_zone.fold
    assert through_lazy.utcoffset() == through_zone.utcoffset()
    # The same instant. Not `==`: across zones, a time in a repeated hour is never equal
    # to anything (PEP 495), even through the ZoneInfo itself.
    assert through_lazy.astimezone(UTC) == utc
    wall = instant.replace(tzinfo=None)
    assert (
        timezone.make_aware(wall, lazy).utcoffset() == timezone.make_aware(wall, zone).utcoffset()
    )


def test_a_visitor_without_a_clinic_reads_the_server_zone_and_pickles_without_the_request():
    request = RequestFactory().get("/")
    request.user = _Anonymous()
    lazy = ClinicZone(request)
    assert str(lazy) == str(timezone.get_default_timezone())
    shown = timezone.localtime(datetime(2026, 7, 1, 12, tzinfo=UTC), lazy)
    restored = pickle.loads(pickle.dumps(shown))
    assert isinstance(restored.tzinfo, zoneinfo.ZoneInfo)
    assert restored == shown and restored.utcoffset() == shown.utcoffset()
    assert shown + timedelta(hours=1) > shown
