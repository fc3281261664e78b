"""The portal's door: the signed-in patient, their one record, and nobody else's.

Every portal page and API route finds the patient's `PortalAccount` from the log-in,
never from an id in the URL; rows named by id in a portal URL are looked up among the
patient's own rows only, so another patient's id answers 404, exactly like a missing one.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from ninja.utils import check_csrf

from ketaclinic.accounts.access import Actor, ClinicRequest, client_ip, require_api
from ketaclinic.accounts.roles import Role
from ketaclinic.api_auth import Allow
from ketaclinic.api_safety import refuse_unstorable
from ketaclinic.portal.models import PortalAccount
from ketaclinic.portal.sign_in import needs_code

M = TypeVar("M", bound=Model)


class PortalRequest(ClinicRequest):
    """A portal request: `actor` is the patient, `account` their portal account."""

    account: PortalAccount


def account_for(user: Any) -> PortalAccount | None:
    """The active portal account of this user, with its patient and clinic."""
    if not user.is_authenticated:
        return None
    return (
        PortalAccount.objects.select_related("membership__clinic", "patient", "user", "clinic")
        .filter(
            user=user,
            membership__is_active=True,
            membership__role=Role.PATIENT.value,
            user__is_active=True,
        )
        .first()
    )


def portal_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Page decorator: a signed-in patient with a portal account; staff get 403."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        account = account_for(request.user)
        if account is None:
            raise PermissionDenied("The patient portal is for patients.")
        if needs_code(request, account):
            return redirect_to_login(request.get_full_path(), login_url="portal_sign_in_code")
        # Times in the clinic's zone (the staff middleware finds no staff membership here;
        # it deactivates the zone again after the response).
        timezone.activate(account.clinic.tz)
        request.account = account  # type: ignore[attr-defined]
        request.actor = Actor(  # type: ignore[attr-defined]
            user=account.user, membership=account.membership, ip=client_ip(request)
        )
        return view(request, *args, **kwargs)

    wrapped.required_action = "portal.use"  # type: ignore[attr-defined]
    return wrapped


class PortalAllow(Allow):
    """API auth for /api/v1/portal/: a patient's bearer token or portal session."""

    def __call__(self, request: HttpRequest) -> Actor | None:
        header = request.headers.get("Authorization", "")
        if not header and request.user.is_authenticated:
            # A patient's browser session: staff sessions never pick a patient membership.
            account = account_for(request.user)
            if account is None:
                raise PermissionDenied("The patient portal is for patients.")
            if needs_code(request, account):
                raise PermissionDenied("Two-factor verification is required.")
            if check_csrf(request) is not None:
                raise PermissionDenied("CSRF check failed: reload the page and try again.")
            request._membership = account.membership  # type: ignore[attr-defined]
            actor = require_api(request, self.action)
            refuse_unstorable(request)
            return actor
        return super().__call__(request)


def portal_allow() -> PortalAllow:
    return PortalAllow("portal.use")


def account_of(actor: Actor) -> PortalAccount:
    """The portal account behind an API actor (a patient's token or session)."""
    account = account_for(actor.user)
    if account is None or account.membership_id != actor.membership.pk:
        raise PermissionDenied("The patient portal is for patients.")
    return account


def own(account: PortalAccount, rows: QuerySet[M], pk: Any, what: str = "item") -> M:
    """The row with this id among the patient's own rows, or 404 (another's, missing, junk)."""
    try:
        key = int(pk)
    except (TypeError, ValueError):
        raise Http404(f"No such {what}.") from None
    found = rows.filter(clinic_id=account.clinic_id, patient_id=account.patient_id, pk=key).first()
    if found is None:
        raise Http404(f"No such {what}.")
    return found
