"""The public website's API: articles, stories and comments for everyone; moderation for
editors; a patient's authorizations to publish their story for the clinicians on the chart.

No schema here has an e-mail field on the way out: a commenter's address goes in with
a new comment and never comes back out of any route.

The public POST takes no credentials and ignores the browser session, so a cross-site
request can do nothing with anyone's authority: CSRF does not apply to it. It runs the
same checks as the page's form (size, links, the per-address rate limit, moderation);
the form's bot traps (honeypot, fill time) only make sense in a browser.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest
from ninja import Field, Query, Router, Schema, Status
from wagtail.models import Page

from ketaclinic.accounts.access import ClinicRequest, client_ip, get_for
from ketaclinic.api_auth import allow
from ketaclinic.api_schemas import StrictIn
from ketaclinic.patients.access import get_patient_for
from ketaclinic.website import services
from ketaclinic.website.models import ArticlePage, Comment, StoryAuthorization, StoryPage

router = Router(tags=["website"])


class PublicWebsite:
    """No credentials, no session: only what the public website shows answers to it."""

    action = "public"

    def __call__(self, request: HttpRequest) -> bool:
        return True


class PublicPageOut(Schema):
    slug: str
    title: str
    url: str
    published: date


class PublicCommentOut(Schema):
    id: int
    name: str
    text: str
    date: datetime
    clinic_reply: bool
    reply_to: int | None


class PublicCommentIn(StrictIn):
    name: str = Field(max_length=200)
    email: str = Field(max_length=254)
    website: str = Field("", max_length=300)
    text: str = Field(max_length=20_000)


class CommentAcceptedOut(Schema):
    status: str
    detail: str


class CommentModerationOut(Schema):
    id: int
    page: str
    page_url: str
    name: str
    website: str
    text: str
    status: str
    created_at: datetime


class ModerationQuery(Schema):
    status: str = "pending"


def _pages(model: type[Page]) -> list[dict[str, Any]]:
    pages = model.objects.live().public().order_by("-published_on", "pk")
    return [
        {
            "slug": p.slug,
            "title": p.title,
            "url": p.get_full_url() or p.url,
            "published": p.published_on,
        }
        for p in pages
    ]


@router.get("/public/articles", response=list[PublicPageOut], auth=PublicWebsite())
def public_articles(request: HttpRequest) -> list[dict[str, Any]]:
    """The live articles, newest first."""
    return _pages(ArticlePage)


@router.get("/public/stories", response=list[PublicPageOut], auth=PublicWebsite())
def public_stories(request: HttpRequest) -> list[dict[str, Any]]:
    """The live stories, newest first (never anything that links a story to a patient)."""
    return _pages(StoryPage)


def _commented_page(slug: str) -> Page:
    page = (
        Page.objects.live()
        .public()
        .type(ArticlePage, StoryPage)
        .filter(slug=slug[:255])
        .specific()
        .order_by("pk")
        .first()
    )
    if page is None:
        raise Http404("No such page.")
    return page


@router.get("/public/pages/{slug}/comments", response=list[PublicCommentOut], auth=PublicWebsite())
def public_comments(request: HttpRequest, slug: str) -> list[dict[str, Any]]:
    """The approved comments of a page, oldest first: name, text, date (no e-mail, ever)."""
    page = _commented_page(slug)
    return [
        {
            "id": c.pk,
            "name": c.name,
            "text": c.text,
            "date": c.created_at,
            "clinic_reply": c.is_clinic_reply,
            "reply_to": c.reply_to_id,
        }
        for c in Comment.objects.filter(page_id=page.pk, status=Comment.Status.APPROVED).order_by(
            "created_at"
        )
    ]


@router.post(
    "/public/pages/{slug}/comments",
    response={202: CommentAcceptedOut},
    auth=PublicWebsite(),
)
def public_comment_post(request: HttpRequest, slug: str, payload: PublicCommentIn) -> Status:
    """Leave a comment: 202, held for moderation, or "approved" for a returning commenter
    the clinic approves automatically (the e-mail is never shown or returned)."""
    page = _commented_page(slug)
    submitted = services.submit_comment(
        page_id=page.pk,
        name=payload.name,
        email=payload.email,
        website=payload.website,
        text=payload.text,
        address=client_ip(request) or "",
    )
    if submitted.comment is not None and submitted.comment.status == Comment.Status.APPROVED:
        return Status(202, {"status": "approved", "detail": "Your comment is published."})
    return Status(202, {"status": "pending", "detail": "Your comment is awaiting moderation."})


def _moderation_row(c: Comment) -> dict[str, Any]:
    return {
        "id": c.pk,
        "page": c.page.title,
        "page_url": c.page.url or "",
        "name": c.name,
        "website": c.website,
        "text": c.text,
        "status": c.status,
        "created_at": c.created_at,
    }


@router.get("/comments", response=list[CommentModerationOut], auth=allow("comments.moderate"))
def comments_to_moderate(
    request: ClinicRequest, query: Query[ModerationQuery]
) -> list[dict[str, Any]]:
    """The clinic's comments in one status (pending by default), newest first."""
    if query.status not in Comment.Status.values:
        raise ValidationError({"status": "Choose pending, approved, rejected or spam."})
    comments = (
        Comment.objects.filter(clinic=request.auth.clinic, status=query.status)
        .select_related("page")
        .order_by("-created_at")[:200]
    )
    return [_moderation_row(c) for c in comments]


def _decide(request: ClinicRequest, comment_id: int, status: str) -> dict[str, Any]:
    comment = Comment.objects.filter(clinic=request.auth.clinic, pk=comment_id).first()
    if comment is None:
        raise Http404("No such comment.")
    moderated = services.moderate(actor=request.auth, comment=comment, status=status)
    return _moderation_row(Comment.objects.select_related("page").get(pk=moderated.pk))


@router.post(
    "/comments/{comment_id}/approve",
    response=CommentModerationOut,
    auth=allow("comments.moderate"),
)
def approve_comment(request: ClinicRequest, comment_id: int) -> dict[str, Any]:
    return _decide(request, comment_id, Comment.Status.APPROVED)


@router.post(
    "/comments/{comment_id}/reject",
    response=CommentModerationOut,
    auth=allow("comments.moderate"),
)
def reject_comment(request: ClinicRequest, comment_id: int) -> dict[str, Any]:
    return _decide(request, comment_id, Comment.Status.REJECTED)


@router.post(
    "/comments/{comment_id}/spam",
    response=CommentModerationOut,
    auth=allow("comments.moderate"),
)
def spam_comment(request: ClinicRequest, comment_id: int) -> dict[str, Any]:
    return _decide(request, comment_id, Comment.Status.SPAM)


# --- a patient's authorizations to publish their story ---------------------------------


class StoryAuthorizationIn(StrictIn):
    scope: str = Field(max_length=services.SCOPE_MAX_CHARS)
    signed_on: date
    expires_on: date


class StoryRefOut(Schema):
    id: int
    title: str
    live: bool


class StoryAuthorizationOut(Schema):
    id: int
    patient_id: int
    scope: str
    signed_on: date
    expires_on: date
    revoked_at: datetime | None
    in_force: bool
    stories: list[StoryRefOut]


def _authorization_out(a: StoryAuthorization, today: date) -> dict[str, Any]:
    return {
        "id": a.pk,
        "patient_id": a.patient_id,
        "scope": a.scope,
        "signed_on": a.signed_on,
        "expires_on": a.expires_on,
        "revoked_at": a.revoked_at,
        "in_force": a.is_valid(today),
        "stories": [
            {"id": s.pk, "title": s.title, "live": s.live}
            for s in sorted(a.stories.all(), key=lambda s: s.pk)
        ],
    }


@router.get(
    "/patients/{patient_id}/story-authorizations",
    response=list[StoryAuthorizationOut],
    auth=allow("story.authorize"),
)
def story_authorizations(request: ClinicRequest, patient_id: int) -> list[dict[str, Any]]:
    """The patient's authorizations to publish their story, newest signature first."""
    actor = request.auth
    patient = get_patient_for(actor, patient_id, "story.authorize", read="api")
    rows = (
        StoryAuthorization.objects.filter(clinic=actor.clinic, patient=patient)
        .prefetch_related("stories")
        .order_by("-signed_on", "-pk")[:100]
    )
    today = actor.clinic.today()
    return [_authorization_out(a, today) for a in rows]


@router.post(
    "/patients/{patient_id}/story-authorizations",
    response={201: StoryAuthorizationOut},
    auth=allow("story.authorize"),
)
def record_story_authorization(
    request: ClinicRequest, patient_id: int, payload: StoryAuthorizationIn
) -> Status:
    """Record the patient's signed authorization (422 names the field that is refused)."""
    actor = request.auth
    patient = get_patient_for(actor, patient_id, "story.authorize")
    authorization = services.record_authorization(
        actor=actor,
        patient=patient,
        scope=payload.scope,
        signed_on=payload.signed_on,
        expires_on=payload.expires_on,
    )
    return Status(201, _authorization_out(authorization, actor.clinic.today()))


@router.post(
    "/story-authorizations/{authorization_id}/revoke",
    response=StoryAuthorizationOut,
    auth=allow("story.authorize"),
)
def revoke_story_authorization(request: ClinicRequest, authorization_id: int) -> dict[str, Any]:
    """Revoke it: every story relying on it leaves the website now (revoking twice is a no-op)."""
    actor = request.auth
    authorization = get_for(
        actor, StoryAuthorization, authorization_id, "story.authorize", what="authorization"
    )
    get_patient_for(actor, authorization.patient_id, "story.authorize")
    revoked = services.revoke_authorization(actor=actor, authorization=authorization)
    return _authorization_out(revoked, actor.clinic.today())
