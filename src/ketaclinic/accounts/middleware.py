"""Request middleware: the clinic's time zone for display, and an idle timeout that polls do not reset."""

from __future__ import annotations

import time
import zoneinfo
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo
from functools import cached_property
from typing import Any

from django.conf import settings
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.cache import patch_vary_headers

from ketaclinic.accounts.access import current_membership


class NoStoreMiddleware:
    """Cache-Control: no-store on every page and API answer (static files never get here).

    Nearly every answer carries patient data or a form for it, and a shared computer's
    browser cache or a proxy must keep none of it. A view that sets its own Cache-Control
    (a public, cacheable page) keeps it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not response.has_header("Cache-Control"):
            response["Cache-Control"] = "no-store"
        return response


class ClinicZone(tzinfo):
    """The acting clinic's time zone, looked up the first time a time is shown.

    Looking the clinic up before the view ran cost every request with a staff cookie a
    session, user and membership read, even a view that shows no time (a health check);
    now only a request that converts a time pays, once. Behaves as the clinic's ZoneInfo
    (the server's zone for a visitor with no clinic); a time it made pickles as that
    ZoneInfo, never with the request.
    """

    def __init__(self, request: HttpRequest) -> None:
        self.request = request

    @cached_property
    def zone(self) -> tzinfo:
        request = self.request
        membership = current_membership(request) if request.user.is_authenticated else None
        return membership.clinic.tz if membership else timezone.get_default_timezone()

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return self.zone.utcoffset(dt)

    def dst(self, dt: datetime | None) -> timedelta | None:
        return self.zone.dst(dt)

    def tzname(self, dt: datetime | None) -> str | None:
        return self.zone.tzname(dt)

    def fromutc(self, dt: datetime) -> datetime:
        return self.zone.fromutc(dt.replace(tzinfo=self.zone)).replace(tzinfo=self)

    def __str__(self) -> str:
        return str(self.zone)

    def __repr__(self) -> str:
        return f"ClinicZone({self.zone!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (zoneinfo.ZoneInfo, (str(self.zone),))


class ClinicTimezoneMiddleware:
    """Times on staff pages in the clinic's zone, looked up only if the page shows one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        timezone.activate(ClinicZone(request))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


ACTIVE_AT = "_active_at"


class IdleSessionMiddleware(SessionMiddleware):
    """Django's sessions with an idle timeout that slides without a write per request.

    Activity slides the timeout by saving the session, but at most once every
    SESSION_REFRESH_SECONDS: saving on every request made every page a database write,
    and on SQLite reads queued behind each other for the one write lock. So the timeout
    runs from the last save, which is at most that long before the last activity.

    A background poll is not activity: the chair board polls every few seconds, and an
    unattended screen must still log out. A request that says it is a poll (header
    `X-Poll`, sent by the board) never refreshes the session.
    """

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        session = request.session
        if request.headers.get("X-Poll") and not session.modified:
            if session.accessed:
                patch_vary_headers(response, ("Cookie",))
            return response
        if session.accessed and not session.modified and not session.is_empty():
            now = int(time.time())
            if now - session.get(ACTIVE_AT, 0) >= settings.SESSION_REFRESH_SECONDS:
                session[ACTIVE_AT] = now
        return super().process_response(request, response)
