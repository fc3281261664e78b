"""The patient portal's pages (phone first) and the staff pages it needs (inbox, requests).

Patient pages use `portal_page`: the patient comes from the log-in, never from the URL,
and any id in a portal URL is looked up among the patient's own rows (404 otherwise).
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from django.contrib import messages as flash
from django.contrib.auth import login as auth_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from ketaclinic.accounts import two_factor as second_factor
from ketaclinic.accounts.access import ClinicRequest, client_ip, get_for, require
from ketaclinic.accounts.forms import OtpForm
from ketaclinic.accounts.models import Membership
from ketaclinic.accounts.roles import Role
from ketaclinic.audit.services import record
from ketaclinic.integration.models import Homework, JournalEntry
from ketaclinic.measures.models import QuestionnaireLink
from ketaclinic.measures.registry import instruments, patient_may_fill
from ketaclinic.measures.services import LinkUnavailable, submit_link_in_portal
from ketaclinic.measures.views import item_rows, parse_answers, unanswered
from ketaclinic.patients.access import get_patient_for
from ketaclinic.patients.hooks import PORTAL_DOCUMENTS
from ketaclinic.portal import services, sign_in
from ketaclinic.portal.access import PortalRequest, account_for, own, portal_page
from ketaclinic.portal.documents import documents_for
from ketaclinic.portal.documents import pages as document_pages
from ketaclinic.portal.models import AppointmentRequest, Thread
from ketaclinic.portal.progress import progress_for
from ketaclinic.scheduling.models import Appointment
from ketaclinic.screening.models import Consent
from ketaclinic.treatment.patient_checkin import PatientCheckin

PAST_LIMIT = 20
LIST = 50


def _errors(exc: ValidationError) -> dict[str, str]:
    if hasattr(exc, "error_dict"):
        return {field: " ".join(msgs) for field, msgs in exc.message_dict.items()}
    return {"__all__": " ".join(exc.messages)}


def _appointments(request: PortalRequest) -> Any:
    return Appointment.objects.filter(
        clinic_id=request.account.clinic_id, patient_id=request.account.patient_id
    ).select_related("room", "clinic")


def _instructions(appointment: Appointment) -> list[str]:
    if appointment.kind == "treatment":
        return [
            "Do not eat for 2 hours and do not drink for 30 minutes before your session.",
            "Arrange a ride home with an adult: you may not drive until the next day.",
            "Tell us about any new medicines, and any benzodiazepine taken in the last 12 hours.",
        ]
    return []


@portal_page
def home(request: PortalRequest) -> HttpResponse:
    account, now = request.account, timezone.now()
    upcoming = (
        _appointments(request)
        .filter(end__gt=now, status__in=("booked", "checked_in"))
        .order_by("start")
        .first()
    )
    due = services.due_links(account)
    homework = list(
        Homework.objects.filter(
            clinic_id=account.clinic_id, patient_id=account.patient_id, done_at__isnull=True
        )[:5]
    )
    unread = Thread.objects.filter(
        clinic_id=account.clinic_id, patient_id=account.patient_id, unread_by_patient=True
    ).count()
    services.audit_read(request.actor, account, "home")
    return render(
        request,
        "portal/home.html",
        {
            "next": upcoming,
            "next_instructions": _instructions(upcoming) if upcoming else [],
            "checkin_open": bool(upcoming and services.is_checkin_day(upcoming, now)),
            "due": due,
            "homework": homework,
            "unread": unread,
            "nav": "home",
        },
    )


@portal_page
def appointments(request: PortalRequest) -> HttpResponse:
    now = timezone.now()
    rows = list(_appointments(request).filter(end__gt=now).exclude(status="cancelled"))
    past = list(_appointments(request).filter(end__lte=now).order_by("-start")[:PAST_LIMIT])
    pending = set(
        AppointmentRequest.objects.filter(
            patient_id=request.account.patient_id, handled_at__isnull=True
        ).values_list("appointment_id", flat=True)
    )
    for a in rows + past:
        a.patient_status = services.patient_status(a, now)
        a.may_change = services.may_change(a, now)
        a.requested = a.pk in pending
        a.checkin_open = services.is_checkin_day(a, now)
    services.audit_read(request.actor, request.account, "appointments")
    return render(
        request,
        "portal/appointments.html",
        {
            "upcoming": rows,
            "past": past,
            "late_hours": services.late_cancel_hours(),
            "nav": "appointments",
        },
    )


@require_POST
@portal_page
def appointment_change(request: PortalRequest, appointment_id: int) -> HttpResponse:
    appointment = own(request.account, _appointments(request), appointment_id, "appointment")
    try:
        services.request_change(
            actor=request.actor,
            account=request.account,
            appointment=appointment,
            kind=request.POST.get("kind", ""),
            note=request.POST.get("note", ""),
        )
    except ValidationError as exc:
        flash.error(request, " ".join(_errors(exc).values()))
    else:
        flash.success(request, "Your request was sent. The clinic will confirm with you.")
    return redirect("portal_appointments")


def _ics_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


@portal_page
def appointment_ics(request: PortalRequest, appointment_id: int) -> HttpResponse:
    appointment = own(request.account, _appointments(request), appointment_id, "appointment")
    clinic = request.account.clinic
    stamp = "%Y%m%dT%H%M%SZ"
    body = "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//ketaclinic//portal//EN",
            "BEGIN:VEVENT",
            f"UID:portal-appointment-{appointment.pk}@ketaclinic",
            f"DTSTAMP:{timezone.now().astimezone(UTC):{stamp}}",
            f"DTSTART:{appointment.start.astimezone(UTC):{stamp}}",
            f"DTEND:{appointment.end.astimezone(UTC):{stamp}}",
            f"SUMMARY:{_ics_text('Appointment at ' + clinic.name)}",
            f"LOCATION:{_ics_text(clinic.address.replace(chr(10), ', '))}",
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ]
    )
    services.audit_read(request.actor, request.account, "appointment_ics")
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="appointment-{appointment.pk}.ics"'
    return response


@portal_page
def checkin(request: PortalRequest, appointment_id: int) -> HttpResponse:
    appointment = own(request.account, _appointments(request), appointment_id, "appointment")
    existing = PatientCheckin.objects.filter(appointment=appointment).first()
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    if request.method == "POST":
        values = {
            k: request.POST.get(k, "")
            for k in (
                "escort_name",
                "escort_phone",
                "last_food_at",
                "last_liquids_at",
                "benzodiazepine_last_12h",
                "new_medicines",
            )
        }
        try:
            services.check_in(
                actor=request.actor, account=request.account, appointment=appointment, data=values
            )
        except ValidationError as exc:
            errors = _errors(exc)
        else:
            flash.success(request, "Thank you: you are checked in. A nurse will confirm with you.")
            return redirect("portal_home")
    elif existing is not None:
        tz = request.account.clinic.tz
        values = {
            "escort_name": existing.escort_name,
            "escort_phone": existing.escort_phone,
            "last_food_at": f"{timezone.localtime(existing.last_food_at, tz):%H:%M}"
            if existing.last_food_at
            else "",
            "last_liquids_at": f"{timezone.localtime(existing.last_liquids_at, tz):%H:%M}"
            if existing.last_liquids_at
            else "",
            "benzodiazepine_last_12h": "yes" if existing.benzodiazepine_last_12h else "no",
            "new_medicines": existing.new_medicines,
        }
    services.audit_read(request.actor, request.account, "checkin")
    return render(
        request,
        "portal/checkin.html",
        {
            "appointment": appointment,
            "open": services.is_checkin_day(appointment, timezone.now()),
            "existing": existing,
            "values": values,
            "errors": errors,
            "nav": "appointments",
        },
        status=422 if errors else 200,
    )


@portal_page
def questionnaires(request: PortalRequest) -> HttpResponse:
    loaded = instruments()
    due = services.due_links(request.account)
    for link in due:
        link.titles = [loaded[c].title for c in link.instruments if c in loaded]
    services.audit_read(request.actor, request.account, "questionnaires")
    return render(request, "portal/questionnaires.html", {"due": due, "nav": "questionnaires"})


@portal_page
def questionnaire(request: PortalRequest, link_id: int) -> HttpResponse:
    account = request.account
    link = own(
        account,
        QuestionnaireLink.objects.select_related("clinic", "patient").filter(
            used_at__isnull=True, expires_at__gt=timezone.now()
        ),
        link_id,
        "questionnaire",
    )
    loaded = instruments()
    definitions = [
        loaded[c] for c in link.instruments if c in loaded and patient_may_fill(loaded[c])
    ]
    answers: dict[str, list[Any]] = {}
    errors: dict[str, dict[str, str]] = {}
    form_error = ""
    asks_again = False
    if request.method == "POST":
        answers = {d.code: parse_answers(d, request.POST, prefix=f"{d.code}-") for d in definitions}
        blanks = {d.code: unanswered(d, answers[d.code]) for d in definitions}
        if any(blanks.values()) and not request.POST.get("skip_anyway"):
            for code, numbers in blanks.items():
                for number in numbers:
                    errors.setdefault(code, {})[f"answers.{number}"] = (
                        "Not answered yet: choose an answer, or leave it blank on purpose."
                    )
            form_error = "Some questions are blank: answer them, or choose “Send with blanks”."
            asks_again = True
        else:
            try:
                stored = submit_link_in_portal(actor=request.actor, link=link, answers=answers)
            except LinkUnavailable:
                raise Http404("No such questionnaire.") from None
            except ValidationError as exc:
                for field, message in _errors(exc).items():
                    code, _, rest = field.partition(".")
                    errors.setdefault(code, {})[rest] = message
                form_error = "Some questions need an answer: see the ones marked below."
            else:
                alerted = any(alerts for _, alerts in stored)
                return render(
                    request,
                    "portal/questionnaire_done.html",
                    {"alerted": alerted, "nav": "questionnaires"},
                )
    else:
        services.audit_read(request.actor, account, "questionnaire")
    sections = [
        {
            "definition": d,
            "rows": item_rows(d, answers.get(d.code), errors.get(d.code, {}), prefix=f"{d.code}-"),
            "error": errors.get(d.code, {}).get("answers", ""),
        }
        for d in definitions
    ]
    return render(
        request,
        "portal/questionnaire.html",
        {
            "sections": sections,
            "form_error": form_error,
            "asks_again": asks_again,
            "nav": "questionnaires",
        },
        status=422 if form_error else 200,
    )


@portal_page
def progress(request: PortalRequest) -> HttpResponse:
    panels = progress_for(request.account.patient)
    services.audit_read(request.actor, request.account, "progress")
    return render(request, "portal/progress.html", {"panels": panels, "nav": "progress"})


@portal_page
def journal(request: PortalRequest) -> HttpResponse:
    account = request.account
    errors: dict[str, str] = {}
    text = ""
    if request.method == "POST":
        text = request.POST.get("text", "")
        share = request.POST.get("share") == "yes"
        try:
            services.write_journal(
                actor=request.actor,
                account=account,
                text=text,
                share=share,
                needs_help=request.POST.get("needs_help") == "yes",
            )
        except ValidationError as exc:
            errors = _errors(exc)
        else:
            flash.success(request, "Saved." + (" Shared with your care team." if share else ""))
            return redirect("portal_journal")
    entries = list(
        JournalEntry.objects.filter(clinic_id=account.clinic_id, patient_id=account.patient_id)[
            :LIST
        ]
    )
    services.audit_read(request.actor, account, "journal")
    return render(
        request,
        "portal/journal.html",
        {"entries": entries, "errors": errors, "text": text, "nav": "journal"},
        status=422 if errors else 200,
    )


@require_POST
@portal_page
def journal_share(request: PortalRequest, entry_id: int) -> HttpResponse:
    entry = own(request.account, JournalEntry.objects.all(), entry_id, "journal entry")
    services.share_journal(
        actor=request.actor,
        account=request.account,
        entry=entry,
        needs_help=request.POST.get("needs_help") == "yes",
    )
    flash.success(request, "Shared with your care team.")
    return redirect("portal_journal")


@portal_page
def homework(request: PortalRequest) -> HttpResponse:
    account = request.account
    rows = list(
        Homework.objects.filter(clinic_id=account.clinic_id, patient_id=account.patient_id)[:LIST]
    )
    services.audit_read(request.actor, account, "homework")
    return render(request, "portal/homework.html", {"rows": rows, "nav": "homework"})


@require_POST
@portal_page
def homework_done(request: PortalRequest, homework_id: int) -> HttpResponse:
    item = own(request.account, Homework.objects.all(), homework_id, "practice")
    services.homework_done(actor=request.actor, account=request.account, homework=item)
    flash.success(request, "Marked done. Your therapist will see it.")
    return redirect("portal_homework")


@portal_page
def messages(request: PortalRequest) -> HttpResponse:
    account = request.account
    errors: dict[str, str] = {}
    values = {"subject": "", "body": ""}
    if request.method == "POST":
        values = {"subject": request.POST.get("subject", ""), "body": request.POST.get("body", "")}
        try:
            thread = services.start_thread(actor=request.actor, account=account, **values)
        except ValidationError as exc:
            errors = _errors(exc)
        else:
            flash.success(request, "Message sent to your care team.")
            return redirect("portal_thread", thread.pk)
    threads = list(
        Thread.objects.filter(clinic_id=account.clinic_id, patient_id=account.patient_id)[:LIST]
    )
    services.audit_read(request.actor, account, "messages")
    return render(
        request,
        "portal/messages.html",
        {"threads": threads, "errors": errors, "values": values, "nav": "messages"},
        status=422 if errors else 200,
    )


@portal_page
def thread(request: PortalRequest, thread_id: int) -> HttpResponse:
    found = own(request.account, Thread.objects.all(), thread_id, "conversation")
    errors: dict[str, str] = {}
    body = ""
    if request.method == "POST":
        body = request.POST.get("body", "")
        try:
            services.reply(actor=request.actor, thread=found, body=body)
        except ValidationError as exc:
            errors = _errors(exc)
        else:
            return redirect("portal_thread", found.pk)
    rows = services.read_thread(actor=request.actor, thread=found)
    return render(
        request,
        "portal/thread.html",
        {"thread": found, "rows": rows, "errors": errors, "body": body, "nav": "messages"},
        status=422 if errors else 200,
    )


@portal_page
def documents(request: PortalRequest) -> HttpResponse:
    rows = documents_for(request.account)
    services.audit_read(request.actor, request.account, "documents")
    return render(
        request,
        "portal/documents.html",
        {"rows": rows, "pages": document_pages(rows), "nav": "documents"},
    )


@portal_page
def consent_pdf(request: PortalRequest, consent_id: int) -> HttpResponse:
    consent = own(request.account, Consent.objects.all(), consent_id, "document")
    record(
        request.actor,
        "download",
        patient_id=consent.patient_id,
        obj=consent,
        detail={"what": "portal_pdf"},
    )
    response = HttpResponse(bytes(consent.pdf), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="consent-{consent.pk}.pdf"'
    return response


@portal_page
def document_pdf(request: PortalRequest, kind: str, doc_id: int) -> HttpResponse:
    """A registered document (a superbill): the source checks it is this patient's."""
    account = request.account
    source = PORTAL_DOCUMENTS.get(kind)
    found = source.open(account.clinic_id, account.patient_id, doc_id) if source else None
    if found is None:
        raise Http404("No such document.")
    record(
        request.actor,
        "download",
        patient_id=account.patient_id,
        obj=found.obj,
        detail={"what": "portal_pdf", "kind": kind},
    )
    response = HttpResponse(found.content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{found.filename}"'
    return response


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
            errors = _errors(exc)
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


# --------------------------------------------------------------------------- signing in


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
            sign_in.send_link(request=request, email=email)
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
            errors = _errors(exc)
        else:
            flash.success(request, "Two-step sign-in is off. Your password alone signs you in.")
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
        errors = {name: " ".join(msgs) for name, msgs in form.errors.items()}
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
            "errors": errors,
            "page_error": errors.get("__all__", ""),
            "recovery_codes": request.session.pop(second_factor.RECOVERY_SESSION_KEY, None),
            "nav": "security",
            **shown,
        },
        status=422 if errors else 200,
    )


# --------------------------------------------------------------------------- staff side


@require_POST
@require("portal.invite")
def staff_invite(request: ClinicRequest, patient_id: int) -> HttpResponse:
    patient = get_patient_for(request.actor, patient_id, "portal.invite")
    try:
        invitation = services.invite(actor=request.actor, patient=patient)
    except ValidationError as exc:
        flash.error(request, " ".join(_errors(exc).values()))
    else:
        local = timezone.localtime(invitation.expires_at, request.actor.clinic.tz)
        flash.success(
            request,
            f"Portal invitation e-mailed to {invitation.username}; the link works until "
            f"{local:%d %b %H:%M}.",
        )
    return redirect("patient_chart", patient.pk)


def _staff_thread(request: ClinicRequest, thread_id: int, action: str) -> Thread:
    return get_for(request.actor, Thread, thread_id, action, related=("patient",), what="thread")


@require("messages.view")
def inbox(request: ClinicRequest) -> HttpResponse:
    actor = request.actor
    show = request.GET.get("show", "open")
    rows = Thread.objects.filter(clinic=actor.clinic).select_related("patient", "assigned_to__user")
    rows = (
        rows.filter(done_at__isnull=True) if show != "done" else rows.filter(done_at__isnull=False)
    )
    threads = list(rows[:LIST])
    record(actor, "view", detail={"what": "message_inbox", "count": len(threads)})
    pending = list(
        AppointmentRequest.objects.filter(
            clinic=actor.clinic, handled_at__isnull=True
        ).select_related("patient", "appointment")[:LIST]
    )
    return render(
        request,
        "portal/inbox.html",
        {"threads": threads, "show": show, "requests": pending},
    )


@require("messages.view")
def staff_thread(request: ClinicRequest, thread_id: int) -> HttpResponse:
    actor = request.actor
    found = _staff_thread(request, thread_id, "messages.view")
    get_patient_for(actor, found.patient_id, "messages.view")  # restricted charts stay closed
    errors: dict[str, str] = {}
    body = ""
    if request.method == "POST":
        body = request.POST.get("body", "")
        try:
            services.reply(actor=actor, thread=found, body=body)
        except ValidationError as exc:
            errors = _errors(exc)
        else:
            return redirect("staff_thread", found.pk)
    rows = services.read_thread(actor=actor, thread=found)
    staff = (
        Membership.objects.active()
        .filter(clinic=actor.clinic)
        .exclude(role=Role.PATIENT)
        .select_related("user")
        .order_by("user__last_name", "user__first_name")
    )
    return render(
        request,
        "portal/staff_thread.html",
        {"thread": found, "rows": rows, "errors": errors, "body": body, "staff": staff},
        status=422 if errors else 200,
    )


@require_POST
@require("messages.record")
def staff_thread_assign(request: ClinicRequest, thread_id: int) -> HttpResponse:
    actor = request.actor
    found = _staff_thread(request, thread_id, "messages.record")
    chosen = request.POST.get("assignee", "")
    membership = None
    if chosen:
        membership = (
            Membership.objects.filter(clinic=actor.clinic, is_active=True)
            .exclude(role=Role.PATIENT)
            .filter(pk=int(chosen) if chosen.isdigit() else 0)
            .first()
        )
        if membership is None:
            flash.error(request, "Choose a member of this clinic's staff.")
            return redirect("staff_thread", found.pk)
    services.assign_thread(actor=actor, thread=found, membership=membership)
    return redirect("staff_thread", found.pk)


@require_POST
@require("messages.record")
def staff_thread_done(request: ClinicRequest, thread_id: int) -> HttpResponse:
    found = _staff_thread(request, thread_id, "messages.record")
    services.mark_done(actor=request.actor, thread=found)
    flash.success(request, "Marked done.")
    return redirect("message_inbox")


@require_POST
@require("schedule.book")
def request_handled(request: ClinicRequest, request_id: int) -> HttpResponse:
    found = get_for(request.actor, AppointmentRequest, request_id, "schedule.book", what="request")
    services.handle_request(actor=request.actor, request=found)
    return redirect("message_inbox")
