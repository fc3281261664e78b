"""The public website's own views (comments, robots.txt, feeds) and the moderation queue."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from wagtail.models import Page

from ketaclinic.accounts.access import ClinicRequest, client_ip, require
from ketaclinic.website import services
from ketaclinic.website.forms import CommentForm, ReplyForm
from ketaclinic.website.models import Comment


@require_POST
def comment_post(request: HttpRequest, page_id: int) -> HttpResponse:
    """The "Leave a Reply" form: held for moderation, then back to the page (PRG)."""
    page = Page.objects.live().public().filter(pk=page_id).specific().first()
    if page is None or not hasattr(page, "comments_open"):
        raise Http404("No such page.")
    form = CommentForm(request.POST)
    form.is_valid()
    data = {f: str(request.POST.get(f, ""))[:10_000] for f in ("name", "email", "website", "text")}
    try:
        services.submit_comment(
            page_id=page.pk,
            address=client_ip(request) or "",
            bot_trapped=form.bot_trapped(),
            **data,
        )
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            if field in form.fields:
                form.add_error(field, errors)
            else:
                form.add_error(None, errors)
        context = page.get_context(request)
        context["comment_form"] = form
        return TemplateResponse(request, page.get_template(request), context, status=422)
    return redirect(page.url + "?comment=pending#leave-a-reply")


@require_http_methods(["GET", "POST"])
def comment_delete(request: HttpRequest, secret: str) -> HttpResponse:
    """The link e-mailed to a commenter: confirm, then the comment is gone."""
    comment = services.comment_for_deletion(secret[:100])
    if request.method == "POST":
        deleted = services.delete_by_link(secret=secret[:100])
        return render(request, "public/comment_deleted.html", {"deleted": deleted}, using="public")
    return render(request, "public/comment_delete.html", {"comment": comment}, using="public")


@require_GET
def robots_txt(request: HttpRequest) -> HttpResponse:
    lines = [
        "User-agent: *",
        # Staff pages, the editors' admin and the API are no business of search engines.
        *(
            f"Disallow: {p}"
            for p in ("/cms/", "/api/", "/home/", "/login/", "/patients/", "/comments/")
        ),
        "",
        f"Sitemap: {request.build_absolute_uri(reverse('website_sitemap'))}",
    ]
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain")


@require("comments.moderate")
def moderation_queue(request: ClinicRequest) -> HttpResponse:
    status = request.GET.get("status", Comment.Status.PENDING)
    if status not in Comment.Status.values:
        status = Comment.Status.PENDING
    comments = list(
        Comment.objects.filter(clinic=request.actor.clinic, status=status, is_clinic_reply=False)
        .select_related("page")
        .order_by("-created_at")[:200]
    )
    counts = dict(
        Comment.objects.filter(clinic=request.actor.clinic, is_clinic_reply=False)
        .values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    return render(
        request,
        "website/moderation.html",
        {
            "comments": comments,
            "status": status,
            "statuses": [(s.value, s.label, counts.get(s.value, 0)) for s in Comment.Status],
            "reply_form": ReplyForm(),
        },
    )


def _comment_for(request: ClinicRequest, comment_id: int) -> Comment:
    comment = (
        Comment.objects.filter(Q(clinic=request.actor.clinic), pk=comment_id, is_clinic_reply=False)
        .select_related("page")
        .first()
    )
    if comment is None:
        raise Http404("No such comment.")
    return comment


DECISIONS = {
    "approve": Comment.Status.APPROVED,
    "reject": Comment.Status.REJECTED,
    "spam": Comment.Status.SPAM,
}


@require("comments.moderate")
@require_POST
def moderate_comment(request: ClinicRequest, comment_id: int, decision: str) -> HttpResponse:
    comment = _comment_for(request, comment_id)
    if decision not in DECISIONS:
        raise Http404("No such decision.")
    services.moderate(actor=request.actor, comment=comment, status=DECISIONS[decision])
    messages.success(request, f"Comment #{comment.pk}: {DECISIONS[decision].label.lower()}.")
    return redirect(reverse("website_moderation") + f"?status={comment.status}")


@require("comments.moderate")
@require_http_methods(["GET", "POST"])
def reply_comment(request: ClinicRequest, comment_id: int) -> HttpResponse:
    comment = _comment_for(request, comment_id)
    form = ReplyForm(request.POST or None)
    hints: list[str] = []
    status = 200
    if request.method == "POST":
        if form.is_valid():
            hints = services.patient_hints(form.cleaned_data["text"])
            try:
                services.reply_as_clinic(
                    actor=request.actor,
                    comment=comment,
                    text=form.cleaned_data["text"],
                    privacy_checked=form.cleaned_data["privacy_checked"],
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(request, "The clinic's reply is published.")
                return redirect("website_moderation")
        status = 422
    return render(
        request,
        "website/reply.html",
        {"comment": comment, "form": form, "hints": hints},
        status=status,
    )
