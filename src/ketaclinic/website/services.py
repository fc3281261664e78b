"""Every write of the public website: comments, their moderation, story authorizations.

A comment is checked the same way from the page's form and from the public API
(`submit_comment`); the form adds the two bot traps a browser can carry (a honeypot field
and a minimum fill time), which drop the comment silently.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import EmailValidator, URLValidator
from django.db import transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from wagtail.models import Page

from ketaclinic import limits
from ketaclinic.accounts.access import Actor
from ketaclinic.audit.services import record, record_system
from ketaclinic.patients.models import Patient
from ketaclinic.website.models import Comment, HomePage, StoryAuthorization, StoryPage

LINK = re.compile(r"(https?://|www\.)", re.IGNORECASE)
RATE_WINDOW_SECONDS = 3600

# Words in a clinic's reply that could confirm the commenter is (or was) a patient: the
# reply editor warns and asks for confirmation before any of them is published. OCR has
# fined providers for replies to reviews that disclosed a patient relationship.
PATIENT_HINTS = re.compile(
    r"\b(your (treatment|session|sessions|infusion|infusions|dose|doses|appointment|"
    r"appointments|visit|visits|chart|record|records|care|course|provider|doctor|nurse|"
    r"therapist|diagnosis|medication|plan|results|scores?)|as (our|a) patient|"
    r"when you (came|were|visited)|you were (seen|treated)|we treated you|"
    r"during your|our records)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Submitted:
    """What a submission came to: `kept` is False when a bot trap dropped it."""

    comment: Comment | None
    kept: bool


def patient_hints(text: str) -> list[str]:
    """The phrases of a reply that could confirm the commenter is a patient."""
    return sorted({m.group(0).lower() for m in PATIENT_HINTS.finditer(text)})


def _commented_page(page_id: int) -> Page:
    from ketaclinic.website.models import ArticlePage

    page = (
        Page.objects.live()
        .public()
        .filter(pk=page_id)
        .type(ArticlePage, StoryPage)
        .specific()
        .first()
    )
    if page is None or not page.comments_open:
        raise ValidationError({"page": "Comments are not open on this page."})
    return page


def home_of(page: Page) -> HomePage | None:
    """The home page of the website the page belongs to (its clinic, its settings)."""
    return page.get_ancestors(inclusive=True).type(HomePage).specific().first()


def clinic_of(page: Page) -> int | None:
    """The clinic whose website the page belongs to (its home page's clinic)."""
    home = home_of(page)
    return home.clinic_id if home else None


def _same_commenter(clinic_id: int | None, email: str) -> QuerySet[Comment]:
    """The visitor comments of the same website from the same address, in any case."""
    on_site = Q(clinic_id=clinic_id) if clinic_id is not None else Q(clinic__isnull=True)
    return Comment.objects.filter(on_site, email__iexact=email, is_clinic_reply=False)


def is_confirmed(clinic_id: int | None, email: str) -> bool:
    return _same_commenter(clinic_id, email).filter(email_confirmed_at__isnull=False).exists()


def approves_automatically(home: HomePage | None, email: str) -> bool:
    """True when the website approves this address's comments without a moderator: the
    clinic turned it on, the commenter confirmed the address from an e-mailed link, a
    moderator approved an earlier comment from it, and none was marked as spam."""
    if home is None or not home.auto_approve_confirmed_commenters:
        return False
    theirs = _same_commenter(home.clinic_id, email)
    return (
        theirs.filter(email_confirmed_at__isnull=False).exists()
        and theirs.filter(status=Comment.Status.APPROVED).exists()
        and not theirs.filter(status=Comment.Status.SPAM).exists()
    )


def validate_comment(*, name: str, email: str, website: str, text: str) -> dict[str, str]:
    """The cleaned fields, or ValidationError naming each bad field."""
    errors: dict[str, str] = {}
    name, email, website, text = name.strip(), email.strip(), website.strip(), text.strip()
    if not name:
        errors["name"] = "Enter your name."
    elif len(name) > 80:
        errors["name"] = "A name has at most 80 characters."
    if not email:
        errors["email"] = "Enter your e-mail address (it is never published)."
    else:
        try:
            EmailValidator()(email)
        except ValidationError:
            errors["email"] = "Enter a valid e-mail address."
    if website:
        try:
            URLValidator(schemes=["http", "https"])(website)
        except ValidationError:
            errors["website"] = "Enter a web address starting with http:// or https://."
        if len(website) > 200:
            errors["website"] = "A web address has at most 200 characters."
    max_chars = settings.WEBSITE_COMMENT_MAX_CHARS
    if not text:
        errors["text"] = "Write your comment."
    elif len(text) > max_chars:
        errors["text"] = f"A comment has at most {max_chars} characters ({len(text)} now)."
    elif len(LINK.findall(text)) > settings.WEBSITE_COMMENT_MAX_LINKS:
        errors["text"] = f"A comment may hold at most {settings.WEBSITE_COMMENT_MAX_LINKS} links."
    if "\x00" in name + email + website + text:
        errors["text"] = "The comment holds characters that cannot be stored."
    if errors:
        raise ValidationError(errors)
    return {"name": name, "email": email, "website": website, "text": text}


def submit_comment(
    *,
    page_id: int,
    name: str,
    email: str,
    website: str,
    text: str,
    address: str,
    bot_trapped: bool = False,
) -> Submitted:
    """Hold a visitor's comment for moderation (or publish it, for a returning commenter
    the clinic approves automatically) and e-mail them the link to delete it.

    The spam checks come first, whoever writes: the size and link count, the bot traps
    (a trapped bot gets the same answer as a person and nothing is stored), and the limit
    of comments per address per hour (counted in the shared cache, so every server process
    counts together), past which the comment is refused with a ValidationError.
    """
    page = _commented_page(page_id)
    fields = validate_comment(name=name, email=email, website=website, text=text)
    if bot_trapped:
        return Submitted(comment=None, kept=False)
    if limits.limited_after_hit(
        f"website-comment:{address or 'unknown'}",
        settings.WEBSITE_COMMENTS_PER_HOUR,
        RATE_WINDOW_SECONDS,
    ):
        raise ValidationError(
            {"text": "Too many comments from your address in the last hour. Try again later."}
        )
    home = home_of(page)
    clinic_id = home.clinic_id if home else None
    secret = secrets.token_urlsafe(24)
    with transaction.atomic():
        approved = approves_automatically(home, fields["email"])
        # The link to confirm the address only where confirming can change something.
        ask_to_confirm = bool(home and home.auto_approve_confirmed_commenters) and not is_confirmed(
            clinic_id, fields["email"]
        )
        comment = Comment.objects.create(
            clinic_id=clinic_id,
            page=page,
            deletion_digest=hashlib.sha256(secret.encode()).hexdigest(),
            status=Comment.Status.APPROVED if approved else Comment.Status.PENDING,
            moderated_at=timezone.now() if approved else None,
            **fields,
        )
        transaction.on_commit(lambda: _send_links(comment, page, secret, ask_to_confirm))
    return Submitted(comment=comment, kept=True)


def _send_links(comment: Comment, page: Page, secret: str, ask_to_confirm: bool) -> None:
    base = (settings.KETACLINIC_BASE_URL or settings.WAGTAILADMIN_BASE_URL).rstrip("/")
    if comment.status == Comment.Status.APPROVED:
        opening = "Thank you for your comment. It is published."
    else:
        opening = "Thank you for your comment. It will appear once a moderator has read it."
    confirm = ""
    if ask_to_confirm:
        confirm = (
            "This website publishes comments from returning commenters without waiting for a "
            "moderator once they have confirmed their e-mail address. To confirm yours, open:\n"
            f"{base}{reverse('comment_confirm', args=[secret])}\n\n"
        )
    send_mail(
        subject=f"Your comment on \u201c{page.title}\u201d",
        message=(
            f"{opening}\n\n"
            "If you want it removed, now or later, open this link:\n"
            f"{base}{reverse('comment_delete', args=[secret])}\n\n"
            f"{confirm}"
            "If you did not write a comment, you can ignore this message."
        ),
        from_email=None,
        recipient_list=[comment.email],
        fail_silently=True,
    )


def comment_for_deletion(secret: str) -> Comment | None:
    """The comment an e-mailed link names (the links to delete it and to confirm the
    address carry the same secret)."""
    digest = hashlib.sha256(secret.encode()).hexdigest()
    return Comment.objects.filter(deletion_digest=digest).first()


def delete_by_link(*, secret: str) -> bool:
    """Delete the comment the e-mailed link names (and the clinic's replies to it)."""
    comment = comment_for_deletion(secret)
    if comment is None:
        return False
    comment.delete()
    return True


def confirm_by_link(*, secret: str) -> Comment | None:
    """The commenter opened the e-mailed link: their address is confirmed.

    A comment of theirs still waiting is published at once when the clinic approves
    returning commenters automatically and the address already had one approved.
    """
    with transaction.atomic():
        comment = comment_for_deletion(secret)
        if comment is None:
            return None
        comment = Comment.objects.select_for_update().get(pk=comment.pk)
        if comment.email_confirmed_at is None:
            comment.email_confirmed_at = timezone.now()
            comment.save(update_fields=["email_confirmed_at"])
        if comment.status == Comment.Status.PENDING and approves_automatically(
            home_of(comment.page), comment.email
        ):
            comment.status = Comment.Status.APPROVED
            comment.moderated_at = timezone.now()
            comment.save(update_fields=["status", "moderated_at"])
    return comment


def moderate(*, actor: Actor, comment: Comment, status: str) -> Comment:
    """Approve, reject or mark a comment as spam."""
    if status not in {Comment.Status.APPROVED, Comment.Status.REJECTED, Comment.Status.SPAM}:
        raise ValidationError({"status": "Choose approve, reject or spam."})
    with transaction.atomic():
        locked = Comment.objects.select_for_update().get(pk=comment.pk)
        locked.status = status
        locked.moderated_at = timezone.now()
        locked.moderated_by = actor.user
        locked.save(update_fields=["status", "moderated_at", "moderated_by"])
    return locked


def reply_as_clinic(*, actor: Actor, comment: Comment, text: str, privacy_checked: bool) -> Comment:
    """Publish the clinic's reply under a comment (approving the comment with it).

    A reply with words that could confirm the commenter is a patient is refused until
    the moderator confirms they checked it (`privacy_checked`).
    """
    text = text.strip()
    if not text:
        raise ValidationError({"text": "Write the reply."})
    if len(text) > settings.WEBSITE_COMMENT_MAX_CHARS:
        raise ValidationError({"text": "The reply is too long."})
    hints = patient_hints(text)
    if hints and not privacy_checked:
        raise ValidationError(
            {
                "text": "This reply could confirm that the person is a patient ("
                + ", ".join(f"\u201c{h}\u201d" for h in hints)
                + "). Rewrite it in general terms, or confirm you checked it."
            }
        )
    with transaction.atomic():
        if comment.status != Comment.Status.APPROVED:
            moderate(actor=actor, comment=comment, status=Comment.Status.APPROVED)
        return Comment.objects.create(
            clinic_id=comment.clinic_id,
            page_id=comment.page_id,
            reply_to=comment,
            name=actor.membership.clinic.name,
            text=text,
            status=Comment.Status.APPROVED,
            is_clinic_reply=True,
            moderated_at=timezone.now(),
            moderated_by=actor.user,
        )


# A guard against a mistyped year (2062 for 2026), not a legal limit: 45 CFR
# 164.508(c)(1)(v) asks for an expiration date or event and sets no maximum term.
MAX_TERM_YEARS = 25
SCOPE_MAX_CHARS = 2000


def record_authorization(
    *,
    actor: Actor,
    patient: Patient,
    scope: str,
    signed_on: date,
    expires_on: date,
) -> StoryAuthorization:
    """Record a patient's signed authorization to publish their story.

    Refused (ValidationError naming each field) when the scope is empty or too long, the
    signing date is in the future or before the patient's birth, or the expiry is not
    after the signing, already past, or more than MAX_TERM_YEARS after the signing.
    """
    errors = {}
    today = actor.clinic.today()
    scope = scope.strip()
    if not scope:
        errors["scope"] = "Say what may be published, in the patient's words."
    elif len(scope) > SCOPE_MAX_CHARS:
        errors["scope"] = f"The scope has at most {SCOPE_MAX_CHARS} characters ({len(scope)} now)."
    elif "\x00" in scope:
        errors["scope"] = "The scope holds characters that cannot be stored."
    if signed_on > today:
        errors["signed_on"] = "The signing date is in the future."
    elif patient.birth_date and signed_on < patient.birth_date:
        errors["signed_on"] = "The signing date is before the patient's birth: check the year."
    if expires_on <= signed_on:
        errors["expires_on"] = "The authorization must end after it was signed."
    elif expires_on <= today:
        errors["expires_on"] = "This authorization has already expired: record a current one."
    elif expires_on.year - signed_on.year > MAX_TERM_YEARS:
        errors["expires_on"] = (
            f"Check the year: that is more than {MAX_TERM_YEARS} years after the signing."
        )
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        authorization = StoryAuthorization.objects.create(
            clinic=actor.clinic,
            patient=patient,
            scope=scope,
            signed_on=signed_on,
            expires_on=expires_on,
            recorded_by=actor.user,
        )
        record(actor, "create", patient_id=patient.pk, obj=authorization)
    return authorization


def revoke_authorization(*, actor: Actor, authorization: StoryAuthorization) -> StoryAuthorization:
    """Revoke an authorization and take the stories that rely on it off the site now."""
    with transaction.atomic():
        locked = StoryAuthorization.objects.select_for_update().get(pk=authorization.pk)
        if locked.revoked_at is None:
            locked.revoked_at = timezone.now()
            locked.save(update_fields=["revoked_at"])
            record(actor, "revoke", patient_id=locked.patient_id, obj=locked)
        _unpublish(StoryPage.objects.live().filter(authorization=locked), timezone.now())
    return locked


def unpublish_unauthorized_stories(now: datetime) -> int:
    """Unpublish every live story from a patient whose authorization is missing, revoked
    or expired on its clinic's calendar (the worker's periodic pass, which catches the
    expiries; a revocation unpublishes its own stories at once). Returns how many."""
    return _unpublish(StoryPage.objects.live().filter(from_a_patient=True), now)


def _unpublish(stories: QuerySet[StoryPage], now: datetime) -> int:
    count = 0
    for story in stories:
        if story.publication_refusal(now) is None:
            continue
        story.unpublish(log_action=False)
        record_system(
            "story_unpublished",
            detail={"page": story.pk, "authorization": story.authorization_id},
        )
        count += 1
    return count
