"""Log-in helpers, clinic choice, two-factor, staff and token pages."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_POST

from ketaclinic.accounts import two_factor as second_factor
from ketaclinic.accounts.access import (
    SESSION_CLINIC_KEY,
    ClinicRequest,
    UserRequest,
    is_portal_user,
    require,
)
from ketaclinic.accounts.forms import ClinicSettingsForm, OtpForm, StaffForm, TokenForm
from ketaclinic.accounts.models import ApiToken, Membership
from ketaclinic.accounts.roles import Role
from ketaclinic.accounts.services import (
    add_staff_member,
    deactivate_staff,
    get_member_for,
    issue_api_token,
    may_enrol_second_factor,
    set_two_factor_requirement,
)
from ketaclinic.audit.services import health_warnings, record


@login_required
def choose_clinic(request: UserRequest) -> HttpResponse:
    if is_portal_user(request.user):
        return redirect("home")  # a patient has one clinic: home sends them to the portal
    memberships = (
        Membership.objects.active()
        .filter(user=request.user)
        .exclude(role=Role.PATIENT)
        .select_related("clinic")
        .order_by("clinic__name")
    )
    if request.method == "POST":
        # No clinic posted (None) matches no membership, as it should.
        chosen = memberships.filter(clinic_id=request.POST.get("clinic")).first()  # type: ignore[misc]
        if chosen:
            request.session[SESSION_CLINIC_KEY] = chosen.clinic_id
            return redirect("home")
    return render(request, "accounts/choose_clinic.html", {"memberships": memberships})


@login_required
def two_factor(request: UserRequest) -> HttpResponse:
    """Enrol a TOTP device (QR code and its key) or confirm a code from an enrolled one.

    Enrolment ends with ten one-time recovery codes, shown once. At log-in a recovery
    code works in place of the authenticator's code (each only once).
    """
    enrolling = second_factor.confirmed_device(request.user) is None
    if enrolling and not may_enrol_second_factor(request.user):
        # A password alone must not let anyone attach their own authenticator.
        return render(request, "accounts/two_factor_reset_needed.html", status=403)
    device = second_factor.pending_device(request.user) if enrolling else None
    form = OtpForm(request.POST or None)
    if enrolling:
        form.fields["code"].label = "6-digit code"  # recovery codes come after enrolment
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["code"]
        if device is not None and second_factor.confirm_enrolment(request, device, code):
            target = urlencode({"next": _next_url(request)})
            return redirect(f"{reverse('two_factor_recovery')}?{target}")
        if device is None and second_factor.verify(request, request.user, code):
            return redirect(_safe_next(request))
        form.add_error(
            "code", "That code is not valid. Check the time on your phone and try again."
        )
    shown = second_factor.enrolment_view(device) if device is not None else {}
    return render(
        request,
        "accounts/two_factor.html",
        {"form": form, "enrolling": enrolling, **shown},
    )


@login_required
def two_factor_recovery(request: HttpRequest) -> HttpResponse:
    """The recovery codes just issued, shown once (they leave the session as they are shown)."""
    codes = request.session.pop(second_factor.RECOVERY_SESSION_KEY, None)
    return render(
        request,
        "accounts/recovery_codes.html",
        {"codes": codes or [], "next": _next_url(request)},
    )


def _safe_next(request: HttpRequest) -> str:
    """Where to go after log-in: `next` only when it stays on this site (no open redirect)."""
    target = request.GET.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return "home"


def _next_url(request: HttpRequest) -> str:
    target = _safe_next(request)
    return reverse("home") if target == "home" else target


@require("staff.manage")
def staff(request: ClinicRequest) -> HttpResponse:
    actor = request.actor
    form = StaffForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            membership, existed = add_staff_member(actor=actor, **form.cleaned_data)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            kept = " (an existing account: their own password is unchanged)" if existed else ""
            messages.success(
                request, f"{membership.user} added as {membership.get_role_display()}{kept}."
            )
            return redirect("staff")
    return _staff_page(request, actor, form)


def _staff_page(request: HttpRequest, actor: Any, form: StaffForm) -> HttpResponse:
    memberships = (
        Membership.objects.filter(clinic=actor.clinic)
        .exclude(role=Role.PATIENT)
        .select_related("user")
        .order_by("-is_active", "user__last_name")
    )
    settings_form = ClinicSettingsForm(
        initial={
            "require_two_factor": actor.clinic.require_two_factor,
            "grace_days": actor.clinic.two_factor_grace_days,
        }
    )
    return render(
        request,
        "accounts/staff.html",
        {
            "form": form,
            "memberships": memberships,
            "settings_form": settings_form,
            "audit_warnings": health_warnings(),
        },
    )


@require_POST
@require("staff.manage")
def staff_deactivate(request: ClinicRequest, membership_id: int) -> HttpResponse:
    actor = request.actor
    membership = get_member_for(actor, membership_id)
    try:
        deactivate_staff(actor=actor, membership=membership)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("staff")
    messages.success(request, f"{membership.user} no longer has access to this clinic.")
    return redirect("staff")


@require_POST
@require("staff.manage")
def clinic_settings(request: ClinicRequest) -> HttpResponse:
    actor = request.actor
    form = ClinicSettingsForm(request.POST)
    if form.is_valid():
        set_two_factor_requirement(
            actor=actor,
            required=form.cleaned_data["require_two_factor"],
            grace_days=form.cleaned_data["grace_days"],
        )
        messages.success(request, "Clinic settings saved.")
    else:
        messages.error(request, "Not saved: the grace period is 0 to 30 days.")
    return redirect("staff")


@require("account.tokens")
def tokens(request: ClinicRequest) -> HttpResponse:
    """Every staff member manages their own API tokens (tablets, integrations)."""
    actor = request.actor
    form = TokenForm(request.POST or None)
    new_token = None
    if request.method == "POST" and form.is_valid():
        try:
            _, new_token = issue_api_token(
                actor=actor, name=form.cleaned_data["name"], otp_code=form.cleaned_data["otp_code"]
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            form = TokenForm()
    mine = ApiToken.objects.filter(membership=actor.membership).order_by("-created_at")
    return render(
        request,
        "accounts/tokens.html",
        {
            "form": form,
            "tokens": mine,
            "new_token": new_token,
            "needs_code": actor.clinic.require_two_factor,
        },
    )


@require_POST
@require("account.tokens")
def token_revoke(request: ClinicRequest, token_id: int) -> HttpResponse:
    actor = request.actor
    token = get_object_or_404(ApiToken, pk=token_id, membership=actor.membership)
    token.revoke()
    record(actor, "revoke", obj=token)
    messages.success(request, "Token revoked.")
    return redirect("tokens")
