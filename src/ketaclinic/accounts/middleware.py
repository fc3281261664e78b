"""Request middleware: the clinic's time zone for display, and an idle timeout that polls do not reset."""

from __future__ import annotations

from collections.abc import Callable

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


class IdleSessionMiddleware(SessionMiddleware):
    """Django's sessions, where a background poll does not count as activity.

    Every request slides the idle timeout (SESSION_SAVE_EVERY_REQUEST); the chair board
    polls every few seconds, so an unattended screen would never log out. A request that
    says it is a poll (header `X-Poll`, sent by the board) leaves the session unsaved, so
    the timeout runs from the last thing a person did.
    """

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if request.headers.get("X-Poll") and not request.session.modified:
            if request.session.accessed:
                patch_vary_headers(response, ("Cookie",))
            return response
        return super().process_response(request, response)
