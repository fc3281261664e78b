"""Users, clinics, memberships (a role per clinic) and API tokens."""

from __future__ import annotations

import hashlib
import secrets
import zoneinfo
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from ketaclinic.accounts.roles import STAFF_ROLES, Role


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known time zone")


class User(AbstractUser):
    """A person who logs in. What they may do depends on their membership in a clinic."""

    # Until when this user may enrol an authenticator with their password alone, once a
    # clinic of theirs requires two-factor (accounts.services.may_enrol_second_factor).
    second_factor_enrolment_until = models.DateTimeField(null=True, blank=True)
    # Set on each request's user by django_otp's OTPMiddleware (declared here for mypy).
    is_verified: Callable[[], bool]

    def __str__(self) -> str:
        return self.get_full_name() or self.username


class Clinic(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    address = models.TextField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    require_two_factor = models.BooleanField(
        default=False, help_text="Staff must confirm a TOTP code at every log-in."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Set-up profile (issue 10): the registration numbers printed on forms and reports.
    dea_registration = models.CharField(max_length=9, blank=True)
    rems_certification_number = models.CharField(max_length=40, blank=True)
    rems_certified_on = models.DateField(null=True, blank=True)
    logo = models.FileField(upload_to="clinic-logos/", blank=True)
    # When two-factor became required: staff without a device may enrol later, within
    # the grace period, rather than being locked out in the middle of a shift.
    two_factor_required_since = models.DateTimeField(null=True, blank=True)
    two_factor_grace_days = models.PositiveSmallIntegerField(default=7)

    def __str__(self) -> str:
        return self.name

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    # The clinic's clock. Not ``timezone.localdate()``: outside a browser request (API
    # tokens, the worker, the demo) the active zone is UTC, which is already tomorrow on a
    # US clinic's evening. Every "today" and "local time" of a clinic goes through these.
    def today(self) -> date:
        """Today's date where the clinic is."""
        return timezone.localdate(timezone=self.tz)

    def now(self) -> datetime:
        """The current moment on the clinic's wall clock (aware, in the clinic's zone)."""
        return timezone.localtime(timezone=self.tz)

    def local(self, moment: datetime) -> datetime:
        """A stored (UTC) moment on the clinic's wall clock."""
        return timezone.localtime(moment, self.tz)

    def date_of(self, moment: datetime) -> date:
        """The clinic's calendar date of a stored (UTC) moment."""
        return timezone.localdate(moment, timezone=self.tz)

    def day_span(
        self, first: date | None, last: date | None
    ) -> tuple[datetime | None, datetime | None]:
        """[local midnight of `first`, local midnight after `last`) for filtering by whole days.

        A bound that lies beyond what a datetime can hold (a filter "to 9999-12-31", or
        "from 0001-01-01" east of Greenwich) is None: leaving it out filters the same rows.
        """
        return self._midnight(first, 0), self._midnight(last, 1)

    def _midnight(self, day: date | None, days_after: int) -> datetime | None:
        if day is None:
            return None
        try:
            start = datetime.combine(day + timedelta(days=days_after), time.min, self.tz)
            start.astimezone(UTC)  # the database stores UTC; this is where year 9999 overflows
        except OverflowError:
            return None
        return start


class MembershipQuerySet(models.QuerySet["Membership"]):
    def active(self) -> MembershipQuerySet:
        return self.filter(is_active=True, user__is_active=True)


class Membership(models.Model):
    """A user's role in one clinic. A user may belong to several clinics."""

    ROLE_CHOICES = [(r.value, r.label) for r in (*STAFF_ROLES, Role.PATIENT)]

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=ROLE_CHOICES)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "clinic"], name="one_role_per_clinic"),
            models.CheckConstraint(
                condition=models.Q(role__in=[r.value for r in Role]), name="membership_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} at {self.clinic}"


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A bearer token for one membership. Only its SHA-256 is stored."""

    PREFIX = "kc_"

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100, blank=True)
    digest = models.CharField(max_length=64, unique=True)
    hint = models.CharField(max_length=12, help_text="First characters, to tell tokens apart.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.hint}… ({self.name or 'unnamed'})"

    @classmethod
    def issue(cls, membership: Membership, name: str = "") -> tuple[ApiToken, str]:
        """Create a token; returns it with the raw secret, which is never stored."""
        raw = cls.PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            membership=membership, name=name, digest=hash_token(raw), hint=raw[:10]
        )
        return token, raw

    def revoke(self) -> None:
        ApiToken.objects.filter(pk=self.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        from ketaclinic.accounts import token_cache

        token_cache.forget()
