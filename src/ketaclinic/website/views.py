"""The public website's own views (comments, robots.txt, feeds, its 404), the moderation
queue, and the chart's story authorizations (recorded and revoked by clinicians)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from wagtail.contrib.sitemaps.views import sitemap as wagtail_sitemap
from wagtail.models import Page, Site

from ketaclinic.accounts.access import ClinicRequest, client_ip, get_for, require
from ketaclinic.patients.access import get_patient_for
from ketaclinic.website import services
from ketaclinic.website.forms import AuthorizationForm, CommentForm, ReplyForm
from ketaclinic.website.models import Comment, HomePage, StoryAuthorization


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
        submitted = services.submit_comment(
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
    comment = submitted.comment
    if comment is not None and comment.status == Comment.Status.APPROVED:
        return redirect(page.url + f"?comment=published#comment-{comment.pk}")
    return redirect(page.url + "?comment=pending#leave-a-reply")


@require_http_methods(["GET", "POST"])
def comment_delete(request: HttpRequest, secret: str) -> HttpResponse:
    """The link e-mailed to a commenter: confirm, then the comment is gone."""
    comment = services.comment_for_deletion(secret[:100])
    if request.method == "POST":
        deleted = services.delete_by_link(secret=secret[:100])
        return render(request, "public/comment_deleted.html", {"deleted": deleted}, using="public")
    return render(request, "public/comment_delete.html", {"comment": comment}, using="public")


@require_http_methods(["GET", "POST"])
def comment_confirm(request: HttpRequest, secret: str) -> HttpResponse:
    """The e-mailed link to confirm a commenter's address: a button first, so that a mail
    scanner opening the link confirms nothing."""
    if request.method == "POST":
        comment = services.confirm_by_link(secret=secret[:100])
        return render(
            request, "public/comment_confirmed.html", {"comment": comment}, using="public"
        )
    comment = services.comment_for_deletion(secret[:100])
    return render(request, "public/comment_confirm.html", {"comment": comment}, using="public")


# The routes of the public website (everything else is a staff page, with the staff 404).
PUBLIC_ROUTES = {
    "wagtail_serve",
    "comment_post",
    "comment_delete",
    "comment_confirm",
    "website_image",
    "website_rendition",
    "robots_txt",
    "website_sitemap",
    "website_feed_rss",
    "website_feed_atom",
}


@cache
def staff_prefixes() -> frozenset[str]:
    """The first path segment of every staff route ("patients", "api", "cms", ...)."""

    def walk(patterns: list[URLPattern | URLResolver], prefix: str = "") -> Iterator[str]:
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern) and p.name not in PUBLIC_ROUTES:
                yield prefix + str(p.pattern)

    firsts = {route.lstrip("^").split("/", 1)[0] for route in walk(get_resolver().url_patterns)}
    return frozenset(f for f in firsts if f and not any(c in f for c in "<>()[]?*+\\$"))


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """The 404 (urls.handler404): the public site's own page for a visitor's path (a
    Wagtail page or nothing at all), the staff page for a staff route (issue 18)."""
    match = request.resolver_match
    first = request.path_info.lstrip("/").split("/", 1)[0]
    public = (match is None or match.url_name in PUBLIC_ROUTES) and first not in staff_prefixes()
    if not public:
        return render(request, "404.html", status=404)
    site = Site.find_for_request(request)
    home = site.root_page.specific if site else None
    return render(request, "public/404.html", {"site_home": home}, using="public", status=404)


@require_GET
def sitemap(request: HttpRequest) -> HttpResponse:
    """Wagtail's sitemap of the live pages; not found while no site is set up (Wagtail's own
    view fails then)."""
    try:
        return wagtail_sitemap(request)
    except Site.DoesNotExist:
        raise Http404 from None


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
            "homes": HomePage.objects.live().filter(clinic=request.actor.clinic).order_by("pk"),
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


@require("story.authorize")
@require_http_methods(["GET", "POST"])
def authorization_record(request: ClinicRequest, patient_id: int) -> HttpResponse:
    """Record a patient's authorization to publish their story (the chart's form posts here)."""
    actor = request.actor
    shown = "story_authorization" if request.method != "POST" else False
    patient = get_patient_for(actor, patient_id, "story.authorize", read=shown)
    form = AuthorizationForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if form.is_valid():
            try:
                services.record_authorization(actor=actor, patient=patient, **form.cleaned_data)
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(request, "The authorization to publish the story is recorded.")
                return redirect("patient_chart", patient.pk)
        return render(
            request,
            "website/authorization_form.html",
            {"form": form, "patient": patient},
            status=422,
        )
    return render(request, "website/authorization_form.html", {"form": form, "patient": patient})


@require("story.authorize")
@require_http_methods(["GET", "POST"])
def authorization_revoke(request: ClinicRequest, authorization_id: int) -> HttpResponse:
    """Confirm, then revoke: any story relying on the authorization leaves the website now."""
    actor = request.actor
    authorization = get_for(
        actor,
        StoryAuthorization,
        authorization_id,
        "story.authorize",
        what="authorization",
        related=("patient",),
    )
    shown = "story_authorization" if request.method != "POST" else False
    patient = get_patient_for(actor, authorization.patient_id, "story.authorize", read=shown)
    if request.method == "POST":
        if authorization.revoked_at is None:
            services.revoke_authorization(actor=actor, authorization=authorization)
            messages.success(
                request, "The authorization is revoked: no story relying on it is on the website."
            )
        return redirect("patient_chart", patient.pk)
    live_stories = list(authorization.stories.filter(live=True).order_by("pk"))
    return render(
        request,
        "website/authorization_revoke.html",
        {"authorization": authorization, "patient": patient, "live_stories": live_stories},
    )
