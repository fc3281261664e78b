"""Request middleware: the clinic's time zone for display, and an idle timeout that polls do not reset."""

from __future__ import annotations

import time
from collections.abc import Callable

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


class ClinicTimezoneMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        membership = current_membership(request) if request.user.is_authenticated else None
        if membership is not None:
            timezone.activate(membership.clinic.tz)
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
