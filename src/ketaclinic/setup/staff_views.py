"""Staff management beyond the list: edit a member, reset access, and create a clinic (platform)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from ketaclinic.accounts import services as accounts
from ketaclinic.accounts.access import ClinicRequest, UserRequest, require
from ketaclinic.accounts.models import Membership
from ketaclinic.accounts.services import get_member_for
from ketaclinic.setup import forms
from ketaclinic.setup.views import _posted, form_errors


@require("staff.manage")
def staff_edit(request: ClinicRequest, membership_id: int) -> HttpResponse:
    actor = request.actor
    member = get_member_for(actor, membership_id)
    user = member.user
    form = forms.StaffEditForm(
        _posted(request),
        initial={
            "first_name": user.first_name,
            "last_name": user.last_name,
            "email": user.email,
            "role": member.role,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            accounts.update_staff(actor=actor, membership=member, **form.cleaned_data)
        except ValidationError as exc:
            form_errors(form, exc)
        else:
            messages.success(request, f"{user} saved.")
            return redirect("staff")
    return render(
        request,
        "setup/staff_edit.html",
        {"form": form, "member": member, "is_me": member.user_id == actor.user.pk},
    )


def _member_action(
    work: Callable[[Any, Membership], str],
) -> Callable[..., HttpResponseBase]:
    """A POST-only staff action: run `work`, show its message, come back to the member."""

    @wraps(work)
    def view(request: ClinicRequest, membership_id: int) -> HttpResponse:
        actor = request.actor
        member = get_member_for(actor, membership_id)
        try:
            messages.success(request, work(actor, member))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return redirect("staff_edit", membership_id=member.pk)

    return require("staff.manage")(require_POST(view))


@_member_action
def staff_password_reset(actor: Any, member: Membership) -> str:
    accounts.send_password_reset(actor=actor, membership=member)
    return f"A link to choose a new password was e-mailed to {member.user.email}."


@_member_action
def staff_unlock(actor: Any, member: Membership) -> str:
    cleared = accounts.unlock_staff(actor=actor, membership=member)
    if not cleared:
        return f"{member.user} was not locked out."
    return f"{member.user} can log in again."


@_member_action
def staff_reset_two_factor(actor: Any, member: Membership) -> str:
    accounts.reset_two_factor(actor=actor, membership=member)
    return f"{member.user} can enrol a new authenticator within a day, at their next log-in."


@_member_action
def staff_reactivate(actor: Any, member: Membership) -> str:
    accounts.reactivate_staff(actor=actor, membership=member)
    return f"{member.user} has access again."


# --- the platform administrator ---------------------------------------------------------


def platform_admin(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Only a Django superuser (the platform's administrator) may create clinics."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.is_superuser:
            raise PermissionDenied("Only a platform administrator creates clinics.")
        return view(request, *args, **kwargs)

    wrapped.required_action = "platform.manage"  # type: ignore[attr-defined]
    return wrapped


@platform_admin
def platform_clinic_new(request: UserRequest) -> HttpResponse:
    form = forms.NewClinicForm(_posted(request), initial={"timezone": "America/New_York"})
    created = link = None
    if request.method == "POST" and form.is_valid():
        try:
            membership = accounts.create_clinic(user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form_errors(form, exc)
        else:
            created = membership
            # The first admin chooses their own password with this one-time link.
            link = accounts.password_reset_link(membership.user)
            form = forms.NewClinicForm(initial={"timezone": "America/New_York"})
    return render(
        request, "setup/platform_clinic.html", {"form": form, "created": created, "link": link}
    )
