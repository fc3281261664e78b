"""Between sessions: questionnaires, progress, the journal and homework."""

from __future__ import annotations

from typing import Any

from django.contrib import messages as flash
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from ketaclinic.integration.models import Homework, JournalEntry
from ketaclinic.measures.models import QuestionnaireLink
from ketaclinic.measures.registry import instruments, patient_fillable
from ketaclinic.measures.services import LinkUnavailable, submit_link_in_portal
from ketaclinic.measures.views import add_answer_errors, answer_sections, posted_answers
from ketaclinic.portal import services
from ketaclinic.portal.access import PortalRequest, own, portal_page
from ketaclinic.portal.progress import progress_for
from ketaclinic.portal.views.common import LIST, errors_of


@portal_page
def questionnaires(request: PortalRequest) -> HttpResponse:
    loaded = instruments()
    due = [
        {"link": link, "titles": [loaded[c].title for c in link.instruments if c in loaded]}
        for link in services.due_links(request.account)
    ]
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
    definitions = patient_fillable(link.instruments)
    answers: dict[str, list[Any]] = {}
    errors: dict[str, dict[str, str]] = {}
    form_error = ""
    asks_again = False
    if request.method == "POST":
        answers, errors, form_error = posted_answers(definitions, request.POST)
        if errors:
            asks_again = True
        else:
            try:
                stored = submit_link_in_portal(
                    actor=request.actor, link=link, answers=dict(answers)
                )
            except LinkUnavailable:
                raise Http404("No such questionnaire.") from None
            except ValidationError as exc:
                form_error = add_answer_errors(errors, exc)
            else:
                alerted = any(alerts for _, alerts in stored)
                return render(
                    request,
                    "portal/questionnaire_done.html",
                    {"alerted": alerted, "nav": "questionnaires"},
                )
    else:
        services.audit_read(request.actor, account, "questionnaire")
    return render(
        request,
        "portal/questionnaire.html",
        {
            "sections": answer_sections(definitions, answers, errors),
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
            errors = errors_of(exc)
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
