"""Who is acting, in which clinic, and whether they may: the one place permissions are enforced.

Pages use the `require` decorator, API handlers call `require_api`; both ask
`roles.may`. Every service function receives an `Actor`, so audit events always
know who, in which role and clinic, and from where.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, TypeVar, cast

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import ForeignKey, Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.utils import timezone
from django_htmx.middleware import HtmxDetails

from ketaclinic.accounts.models import Clinic, Membership, User
from ketaclinic.accounts.roles import Role, may, permission

SESSION_CLINIC_KEY = "clinic_id"

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class Actor:
    """A user acting in one clinic in one role, from one address."""

    user: User
    membership: Membership
    ip: str | None = None
    token_id: int | None = None

    @property
    def clinic(self) -> Clinic:
        return self.membership.clinic

    @property
    def role(self) -> Role:
        return Role(self.membership.role)

    def may(self, action: str) -> bool:
        return may(self.role, action)

    def check(self, action: str) -> None:
        """Raise PermissionDenied unless this actor's role allows `action`."""
        if not self.may(action):
            raise PermissionDenied(f"A {self.role.label.lower()} may not do this ({action}).")


class UserRequest(HttpRequest):
    """A request from a logged-in user (behind `login_required`, `require` or the API auth)."""

    user: User


class ClinicRequest(UserRequest):
    """A request that got past the door: who is acting is known (as healthchecks types its
    authenticated request).

    Pages behind `require` read the Actor as `request.actor`; API routes behind
    `api_auth.allow` read the same Actor as `request.auth` (django-ninja's name for what
    the auth returned). `htmx` is django-htmx's view of the request's htmx headers.
    Only for annotations: nothing constructs one, the attributes are set on the request.
    """

    actor: Actor
    auth: Actor
    htmx: HtmxDetails


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR, or behind the clinic's own proxy the hop it added.

    Only the right-most X-Forwarded-For entry was written by our proxy; anything to its
    left came from the client and can be forged. A value that is not an IP address is
    ignored (it would also break PostgreSQL's inet column).
    """
    remote = request.META.get("REMOTE_ADDR")
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if forwarded and getattr(settings, "KETACLINIC_TRUST_PROXY", False):
        candidate = forwarded.split(",")[-1].strip()
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            return remote
    return remote


def membership_for_session(request: HttpRequest) -> Membership | None:
    """The membership the logged-in user is working in (chosen clinic, or their only one)."""
    user = request.user
    if not user.is_authenticated:
        return None
    memberships = Membership.objects.active().filter(user=user).exclude(role=Role.PATIENT)
    chosen = request.session.get(SESSION_CLINIC_KEY)
    if chosen is not None:
        found = memberships.select_related("clinic", "user").filter(clinic_id=chosen).first()
        if found:
            return found
    only = list(memberships.select_related("clinic", "user")[:2])
    return only[0] if len(only) == 1 else None


def is_portal_user(user: Any) -> bool:
    """True for a patient's portal account: a patient membership and no staff one."""
    if not user.is_authenticated:
        return False
    roles = set(Membership.objects.active().filter(user=user).values_list("role", flat=True))
    return Role.PATIENT.value in roles and roles == {Role.PATIENT.value}


def current_membership(request: HttpRequest) -> Membership | None:
    """The acting membership, looked up once per request (API token auth sets it directly)."""
    if not hasattr(request, "_membership"):
        request._membership = membership_for_session(request)  # type: ignore[attr-defined]
    return request._membership  # type: ignore[attr-defined]


def actor_for(request: HttpRequest) -> Actor | None:
    membership = current_membership(request)
    if membership is None:
        return None
    return Actor(
        user=membership.user,
        membership=membership,
        ip=client_ip(request),
        token_id=getattr(request, "api_token_id", None),
    )


def needs_second_factor(request: HttpRequest, membership: Membership | None) -> bool:
    """True when the clinic requires two-factor and this browser session has not passed it.

    Someone with no authenticator yet may keep working during the clinic's grace period
    (asked to enrol on every page), so requiring two-factor never locks out a shift.
    """
    if membership is None or not membership.clinic.require_two_factor:
        return False
    if getattr(request, "api_token_id", None):
        return False
    user = cast(User, request.user)  # a membership was found, so someone is logged in
    if user.is_verified():
        return False
    return two_factor_grace_ends(user, membership.clinic) is None


def two_factor_grace_ends(user: User, clinic: Clinic) -> datetime | None:
    """When `user` must have enrolled, while they are still in the grace period; else None."""
    if not clinic.require_two_factor or clinic.two_factor_required_since is None:
        return None
    ends = clinic.two_factor_required_since + timedelta(days=clinic.two_factor_grace_days)
    if timezone.now() >= ends:
        return None
    from django_otp.plugins.otp_totp.models import TOTPDevice

    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        return None
    return ends


def require(
    action: str,
) -> Callable[[Callable[..., HttpResponseBase]], Callable[..., HttpResponseBase]]:
    """Page decorator: logged in, working in a clinic, second factor passed, role allows it.

    The view receives the Actor as `request.actor`. A misspelt action fails here, when the
    view's module is imported.
    """
    permission(action)

    def decorator(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not request.user.is_authenticated:
                if request.headers.get("HX-Request"):
                    # An htmx request (the board's poll) after the session ended: send the
                    # whole page to the log-in, rather than the log-in form into a panel.
                    response = HttpResponse(status=401)
                    response["HX-Redirect"] = redirect_to_login(request.get_full_path()).url
                    return response
                return redirect_to_login(request.get_full_path())
            membership = current_membership(request)
            if membership is None:
                if is_portal_user(request.user):
                    # A patient's portal account never reaches a staff page.
                    raise PermissionDenied("This page is for clinic staff.")
                return redirect("choose_clinic")
            if needs_second_factor(request, membership):
                return redirect("two_factor")
            actor = actor_for(request)
            assert actor is not None
            actor.check(action)
            request.actor = actor  # type: ignore[attr-defined]
            return view(request, *args, **kwargs)

        wrapped.required_action = action  # type: ignore[attr-defined]
        return wrapped

    return decorator


def require_api(request: HttpRequest, action: str) -> Actor:
    """API handlers: the authenticated Actor, or PermissionDenied (answered as 403)."""
    membership = current_membership(request)
    if membership is None:
        if is_portal_user(request.user):
            raise PermissionDenied("This route is for clinic staff.")
        raise PermissionDenied("Choose a clinic first: this account belongs to several.")
    if needs_second_factor(request, membership):
        raise PermissionDenied("Two-factor verification is required.")
    actor = actor_for(request)
    assert actor is not None
    actor.check(action)
    return actor


def audit_read(
    actor: Actor,
    obj: Model,
    *,
    patient_id: int | None,
    view: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Write the audit event for reading one record: the one place such a read is audited.

    `get_for(..., read=...)` calls it once the record is found and the actor may see it,
    so a page and its API twin each write exactly one read event, and nothing else (views,
    API handlers) writes its own. `view` names what was shown ("chart", "api"); `detail`
    adds ids (never patient data).
    """
    from ketaclinic.audit.services import record  # audit sits beside accounts

    shown = {"view": view} if view else {}
    record(actor, "view", patient_id=patient_id, obj=obj, detail={**shown, **(detail or {})})


def get_for(
    actor: Actor,
    model: type[M],
    pk: int | str | None,
    action: str | None,
    *,
    related: tuple[str, ...] = (),
    what: str | None = None,
    query: QuerySet[M] | None = None,
    clinic_field: str = "clinic",
    guard: Callable[[Actor, M], None] | None = None,
    read: str | bool = False,
    read_detail: dict[str, Any] | None = None,
    patient_of: Callable[[M], int | None] | None = None,
) -> M:
    """The `model` row with this id in the actor's clinic, or 404; PermissionDenied first
    unless the role may `action` (None: the caller has checked).

    The one way a page, an API handler or a service reaches a clinic's record by id. An id
    of another clinic, an id that does not exist and a value that is not an integer (a
    forged URL) all answer the same 404, so nothing tells one clinic what another holds.
    `query` narrows the rows first (active memberships only, say); `clinic_field` is the
    path to the clinic for a row that has none of its own ("session__clinic").

    `guard` runs on the row found (a restricted chart's care team, say) before anything
    is shown. `read` audits the read here, once (`audit_read`): True, or the name of what
    is shown ("chart", "api"); the patient is `patient_of(row)`, else the row's
    `patient_id`. A fetch for a write leaves `read` off: the write's own event says it.
    """
    if action is not None:
        actor.check(action)
    label = what or str(model._meta.verbose_name)
    try:
        key = int(pk)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise Http404(f"No such {label} in this clinic.") from None
    rows = query if query is not None else model._default_manager.all()
    rows = rows.filter(**{clinic_field: actor.clinic, "pk": key})
    if related:
        rows = rows.select_related(*related)
    found = rows.first()
    if found is None:
        raise Http404(f"No such {label} in this clinic.")
    if clinic_field == "clinic" and "clinic" not in related:
        # The row is in the actor's clinic (filtered above): a page that asks for its
        # clinic (a date, the time zone) reuses the one loaded with the actor.
        cast(ForeignKey, model._meta.get_field("clinic")).set_cached_value(found, actor.clinic)
    if guard is not None:
        guard(actor, found)
    if read is not False:
        patient_id = patient_of(found) if patient_of else getattr(found, "patient_id", None)
        view = read if isinstance(read, str) else None
        audit_read(actor, found, patient_id=patient_id, view=view, detail=read_detail)
    return found
