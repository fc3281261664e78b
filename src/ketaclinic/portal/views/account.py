"""Getting in: the invitation, the e-mailed sign-in link, the authenticator's code, security."""

from __future__ import annotations

from typing import Any

from django.contrib import messages as flash
from django.contrib.auth import login as auth_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from ketaclinic.accounts import two_factor as second_factor
from ketaclinic.accounts.access import client_ip
from ketaclinic.accounts.forms import OtpForm
from ketaclinic.portal import services, sign_in
from ketaclinic.portal.access import PortalRequest, account_for, portal_page
from ketaclinic.portal.views.common import errors_of


def invite_accept(request: Any, token: str) -> HttpResponse:
    """The e-mailed link: choose a password (no log-in; the single-use token is the key)."""
    invite = services.find_invite(token)
    if invite is None:
        return render(request, "portal/invite_state.html", {}, status=404)
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            services.accept_invite(
                raw=token,
                password=request.POST.get("password", ""),
                confirm=request.POST.get("confirm", ""),
                ip=client_ip(request),
            )
        except ValidationError as exc:
            errors = errors_of(exc)
        else:
            flash.success(request, "Your password is set. Sign in with your e-mail address.")
            return redirect("login")
    return render(
        request,
        "portal/invite_accept.html",
        {
            "username": invite.account.user.username,
            "clinic": invite.account.clinic,
            "errors": errors,
        },
        status=422 if errors else 200,
    )


def _limited(request: Any) -> HttpResponse:
    response = render(request, "portal/sign_in_state.html", {"state": "limited"}, status=429)
    response["Retry-After"] = "3600"
    return response


def sign_in_request(request: Any) -> HttpResponse:
    """ "E-mail me a sign-in link": the same answer whether or not the address is a patient's."""
    email = str(request.POST.get("email", ""))[:254] if request.method == "POST" else ""
    error = ""
    if request.method == "POST":
        try:
            validate_email(email.strip())
        except ValidationError:
            error = "Enter the e-mail address the clinic has for you (name@example.org)."
        else:
            if sign_in.rate_limited(request, email):
                return _limited(request)
            sign_in.ask_for_link(request=request, email=email)
            return render(
                request,
                "portal/sign_in_state.html",
                {"state": "sent", "minutes": sign_in.link_minutes()},
            )
    return render(
        request,
        "portal/sign_in_request.html",
        {"email": email.replace("\x00", ""), "error": error},
        status=422 if error else 200,
    )


def sign_in_link(request: Any, token: str) -> HttpResponse:
    """The e-mailed link. GET only shows a button (mail scanners fetch links); POST signs in."""
    if sign_in.rate_limited_link(request):
        return _limited(request)
    link = sign_in.find_link(token)
    if link is None:
        return render(request, "portal/sign_in_state.html", {"state": "gone"}, status=404)
    if request.method == "POST":
        try:
            account = sign_in.use_link(request=request, raw=token)
        except ValidationError:
            return render(request, "portal/sign_in_state.html", {"state": "gone"}, status=404)
        auth_login(request, account.user, backend="django.contrib.auth.backends.ModelBackend")
        # The portal's door asks for the authenticator's code next, if one is enrolled.
        return redirect("portal_home")
    return render(request, "portal/sign_in_link.html", {"clinic": link.account.clinic})


def sign_in_code(request: Any) -> HttpResponse:
    """The authenticator's code (or a recovery code) after the password or the e-mailed link."""
    if not request.user.is_authenticated:
        return redirect("portal_sign_in")
    account = account_for(request.user)
    if account is None:
        raise PermissionDenied("The patient portal is for patients.")
    if not sign_in.needs_code(request, account):
        return redirect("portal_home")
    form = OtpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if second_factor.verify(request, account.user, form.cleaned_data["code"]):
            return redirect(_next_url(request))
        form.add_error(
            "code", "That code is not valid. Check the time on your phone and try again."
        )
    return render(
        request,
        "portal/sign_in_code.html",
        {"form": form, "clinic": account.clinic},
        status=422 if form.errors else 200,
    )


def _next_url(request: Any) -> str:
    """`next` when it is a portal path on this site, else the portal's home (no open redirect)."""
    target = request.GET.get("next", "")
    if target.startswith("/portal/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}
    ):
        return str(target)
    return reverse("portal_home")


@portal_page
def security(request: PortalRequest) -> HttpResponse:
    """Security: set up an authenticator (optional) or turn it off."""
    account = request.account
    enrolled = second_factor.confirmed_device(account.user) is not None
    form = OtpForm(request.POST or None)
    form.fields["code"].label = "6-digit code from your app"
    errors: dict[str, str] = {}
    if request.method == "POST" and request.POST.get("action") == "off" and enrolled:
        try:
            sign_in.turn_off(
                request=request,
                actor=request.actor,
                account=account,
                password=str(request.POST.get("password", "")),
                code=str(request.POST.get("code", "")),
            )
        except ValidationError as exc:
            errors = errors_of(exc)
        else:
            flash.success(
                request,
                "Two-step sign-in is off: your password or an e-mailed link alone signs you in.",
            )
            return redirect("portal_security")
    elif request.method == "POST" and not enrolled:
        if form.is_valid():
            if sign_in.enrol(
                request=request,
                actor=request.actor,
                account=account,
                code=form.cleaned_data["code"],
            ):
                flash.success(request, "Two-step sign-in is on.")
                return redirect("portal_security")
            form.add_error(
                "code", "That code is not valid. Check the time on your phone and try again."
            )
        errors = {name: " ".join(str(m) for m in msgs) for name, msgs in form.errors.items()}
    elif request.method == "POST":
        errors = {"__all__": "Reload the page: your two-step sign-in changed."}
    shown = (
        {} if enrolled else second_factor.enrolment_view(second_factor.pending_device(account.user))
    )
    if request.method == "GET":
        services.audit_read(request.actor, account, "security")
    return render(
        request,
        "portal/security.html",
        {
            "enrolled": enrolled,
            "has_password": account.user.has_usable_password(),
            "errors": errors,
            "page_error": errors.get("__all__", ""),
            "recovery_codes": request.session.pop(second_factor.RECOVERY_SESSION_KEY, None),
            "nav": "security",
            **shown,
        },
        status=422 if errors else 200,
    )
