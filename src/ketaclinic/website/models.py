"""The public website: Wagtail pages, the patient's authorization for a story, comments.

Nothing here is part of the clinical record. A story told by a patient points at a
`StoryAuthorization` (recorded by a clinician, who sees the chart); the page itself holds
no patient field, and the authorization's `str` names no one, so an editor choosing it in
/cms/ learns nothing about the patient.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import strip_tags
from wagtail.admin.panels import FieldPanel, MultiFieldPanel
from wagtail.fields import RichTextField
from wagtail.models import Page

from ketaclinic.accounts.models import Clinic
from ketaclinic.website.admin_forms import StoryPageForm

CATEGORIES = [
    ("conditions", "Conditions"),
    ("what-to-expect", "What to expect"),
    ("safety", "Safety"),
    ("research", "Research"),
]
WORDS_PER_MINUTE = 200


class PublicPage(Page):
    """Every public page renders with the public template engine (settings.TEMPLATES "public").

    That engine has no context processors but CSRF: no user, no session, no clinic
    membership reaches a public template, whoever is signed in (issue 18).
    """

    class Meta:
        abstract = True

    def get_context(self, request: HttpRequest, *args: Any, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context(request, *args, **kwargs)
        context.pop("request", None)
        context["canonical_url"] = self.get_full_url()
        context["site_home"] = self.get_site().root_page.specific if self.get_site() else None
        return context


class HomePage(PublicPage):
    clinic = models.ForeignKey(
        Clinic, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    intro = models.TextField(blank=True)
    body = RichTextField(blank=True)
    # Off: every visitor's comment waits for a moderator (issue 18).
    auto_approve_confirmed_commenters = models.BooleanField(
        "Approve returning commenters automatically",
        default=False,
        help_text=(
            "A comment is published without moderation when its e-mail address was confirmed "
            "(from the link e-mailed to the commenter) and a moderator approved an earlier "
            "comment from it. Takes effect when this page is published."
        ),
    )

    content_panels = [*Page.content_panels, FieldPanel("intro"), FieldPanel("body")]
    settings_panels = [
        *Page.settings_panels,
        FieldPanel("clinic"),
        MultiFieldPanel([FieldPanel("auto_approve_confirmed_commenters")], heading="Comments"),
    ]
    template = "public/home_page.html"
    subpage_types = ["website.ArticlePage", "website.StoryPage", "website.StandardPage"]

    def get_context(self, request: HttpRequest, *args: Any, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context(request, *args, **kwargs)
        children = self.get_children().live().public().specific()
        context["articles"] = [p for p in children if isinstance(p, ArticlePage)]
        context["stories"] = [p for p in children if isinstance(p, StoryPage)]
        context["sections"] = [p for p in children if isinstance(p, StandardPage)]
        return context


class StandardPage(PublicPage):
    """The team, conditions treated, contact and location, the FAQ."""

    body = RichTextField()
    content_panels = [*Page.content_panels, FieldPanel("body")]
    template = "public/standard_page.html"
    subpage_types: list[str] = []


class CommentedPage(PublicPage):
    """Articles and stories: an author, a date, categories, a reading time, comments."""

    author = models.CharField(max_length=120, blank=True)
    published_on = models.DateField(default=date.today)
    category = models.CharField(max_length=30, choices=CATEGORIES, blank=True)
    summary = models.TextField(blank=True, help_text="One or two sentences, shown in lists.")
    image = models.ForeignKey(
        "wagtailimages.Image", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = RichTextField()
    sources = RichTextField(blank=True, help_text="The sources this page relies on.")
    comments_open = models.BooleanField(default=True)

    class Meta:
        abstract = True

    @property
    def reading_minutes(self) -> int:
        words = len(re.findall(r"\w+", strip_tags(self.body)))
        return max(1, math.ceil(words / WORDS_PER_MINUTE))

    def get_context(self, request: HttpRequest, *args: Any, **kwargs: Any) -> dict[str, Any]:
        from ketaclinic.website.forms import CommentForm

        context = super().get_context(request, *args, **kwargs)
        context["comments"] = list(
            Comment.objects.filter(page_id=self.pk, status=Comment.Status.APPROVED)
            .order_by("created_at")
            .only("name", "website", "text", "created_at", "is_clinic_reply", "reply_to_id")
        )
        context.setdefault("comment_form", CommentForm())
        context["pending"] = request.GET.get("comment") == "pending"
        context["published"] = request.GET.get("comment") == "published"
        return context


class ArticlePage(CommentedPage):
    content_panels = [
        *Page.content_panels,
        MultiFieldPanel(
            [FieldPanel("author"), FieldPanel("published_on"), FieldPanel("category")],
            heading="About this article",
        ),
        FieldPanel("summary"),
        FieldPanel("image"),
        FieldPanel("body"),
        FieldPanel("sources"),
        FieldPanel("comments_open"),
    ]
    template = "public/article_page.html"
    subpage_types: list[str] = []


class StoryAuthorization(models.Model):
    """A patient's HIPAA authorization (45 CFR 164.508) to publish their story.

    Who signed (the patient), what may be published, when it was signed, when it ends,
    and whether it was revoked. A story tied to a patient is published only while one is
    valid; the worker unpublishes it when it lapses (website/services.py).
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="story_authorizations"
    )
    scope = models.TextField(help_text="What may be published, in the patient's words.")
    signed_on = models.DateField()
    expires_on = models.DateField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_on__gt=models.F("signed_on")),
                name="story_authorization_ends_after_signing",
            )
        ]

    def __str__(self) -> str:
        # No name, no MRN: this is what an editor sees when choosing it in /cms/.
        state = "revoked" if self.revoked_at else f"valid to {self.expires_on:%Y-%m-%d}"
        return f"Authorization #{self.pk}, signed {self.signed_on:%Y-%m-%d}, {state}"

    def is_valid(self, on: date) -> bool:
        return self.revoked_at is None and self.signed_on <= on < self.expires_on


class StoryPage(CommentedPage):
    """A "Real Story". One told by a patient needs a valid authorization to be live."""

    from_a_patient = models.BooleanField(
        default=True,
        help_text="Told by or about a patient: publishing needs their recorded authorization.",
    )
    authorization = models.ForeignKey(
        StoryAuthorization,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="stories",
    )

    content_panels = [
        *Page.content_panels,
        MultiFieldPanel(
            [FieldPanel("from_a_patient"), FieldPanel("authorization")],
            heading="The patient's authorization",
        ),
        MultiFieldPanel(
            [FieldPanel("author"), FieldPanel("published_on"), FieldPanel("category")],
            heading="About this story",
        ),
        FieldPanel("summary"),
        FieldPanel("image"),
        FieldPanel("body"),
        FieldPanel("comments_open"),
    ]
    template = "public/story_page.html"
    subpage_types: list[str] = []
    base_form_class = StoryPageForm

    if TYPE_CHECKING:
        # Wagtail's Page ships no types: name the manager, so that the Django plugin can
        # type StoryAuthorization.stories (the reverse of `authorization`).
        _default_manager: ClassVar[models.Manager[StoryPage]]

    def publication_refusal(self, now: datetime | None = None) -> str | None:
        """Why this story may not be live at `now` (default: now), or None when it may.

        The authorization is in force on its clinic's calendar, not the server's."""
        if not self.from_a_patient:
            return None
        if self.authorization_id is None:
            return (
                "A story from a patient needs their recorded authorization before it is published."
            )
        # Read afresh: a cached instance could predate a revocation.
        authorization = StoryAuthorization.objects.select_related("clinic").get(
            pk=self.authorization_id
        )
        if authorization.revoked_at is not None:
            return "The patient revoked their authorization: this story cannot be published."
        if not authorization.is_valid(authorization.clinic.date_of(now or timezone.now())):
            return (
                "The patient's authorization is not in force today: this story cannot be published."
            )
        return None

    def clean(self) -> None:
        super().clean()
        # Every path that makes the page live (the editor's Publish, a scheduled
        # publication, code calling revision.publish()) saves it with live=True, and
        # Page.save() runs full_clean(): this refusal holds on all of them.
        if self.live:
            refusal = self.publication_refusal()
            if refusal:
                raise ValidationError({"authorization": refusal})


class Comment(models.Model):
    """A visitor's reply under an article or story, or the clinic's answer to one.

    Never part of the clinical record. The e-mail address is kept for the deletion link
    and moderation only: no template, feed, API schema or sitemap reads it.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting moderation"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        SPAM = "spam", "Spam"

    clinic = models.ForeignKey(Clinic, null=True, on_delete=models.CASCADE, related_name="+")
    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="website_comments")
    reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies"
    )
    name = models.CharField(max_length=80)
    email = models.EmailField(blank=True)
    website = models.URLField(max_length=200, blank=True)
    text = models.TextField(max_length=4000)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    is_clinic_reply = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    moderated_at = models.DateTimeField(null=True, blank=True)
    moderated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # SHA-256 of the secret in the e-mailed links (delete; confirm the address): the
    # secret itself is never stored.
    deletion_digest = models.CharField(max_length=64, blank=True, db_index=True)
    # When the commenter opened the e-mailed link and confirmed the address is theirs.
    email_confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["page", "status", "created_at"])]

    def __str__(self) -> str:
        return f"Comment #{self.pk} ({self.status})"
