"""Show times in the acting clinic's time zone (stored times stay UTC)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from ketaclinic.accounts.access import current_membership


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
