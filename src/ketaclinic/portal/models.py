"""Portal accounts, their invitations, message threads and appointment requests."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from ketaclinic.patients.models import ClinicScopedQuerySet


class PortalAccount(models.Model):
    """A patient's log-in: one user, one patient membership, one patient in one clinic."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="portal_account"
    )
    membership = models.OneToOneField(
        "accounts.Membership", on_delete=models.PROTECT, related_name="portal_account"
    )
    patient = models.OneToOneField(
        "patients.Patient", on_delete=models.PROTECT, related_name="portal_account"
    )
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    activated_at = models.DateTimeField(null=True, blank=True)

    objects = ClinicScopedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"Portal account {self.pk}"


class PortalInvite(models.Model):
    """A single-use link to set the password; only the SHA-256 of its token is stored."""

    account = models.ForeignKey(PortalAccount, on_delete=models.CASCADE, related_name="invites")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Invite {self.pk}"


class SignInLink(models.Model):
    """An e-mailed one-time sign-in link; only the SHA-256 of its token is stored."""

    account = models.ForeignKey(
        PortalAccount, on_delete=models.CASCADE, related_name="sign_in_links"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Sign-in link {self.pk}"


class SignInRequest(models.Model):
    """An address someone typed on "e-mail me a sign-in link", waiting for the worker.

    The page only stores this row, the same work whether or not the address has an
    account, so its response time tells nobody who is a patient here; the worker looks
    the address up, mails a link if it names a patient's account, and deletes the row.
    """

    email = models.CharField(max_length=254)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Sign-in request {self.pk}"


class Thread(models.Model):
    """A conversation between a patient and the care team."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    subject = models.CharField(max_length=120)
    assigned_to = models.ForeignKey(
        "accounts.Membership", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    done_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_message_at = models.DateTimeField(default=timezone.now)
    # Who has a message they have not opened yet.
    unread_by_patient = models.BooleanField(default=False)
    unread_by_staff = models.BooleanField(default=False)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(
                fields=["clinic", "patient", "last_message_at"], name="thread_patient_idx"
            ),
            models.Index(fields=["clinic", "done_at", "last_message_at"], name="thread_inbox_idx"),
        ]
        ordering = ["-last_message_at", "-pk"]

    def __str__(self) -> str:
        return f"Thread {self.pk}"


class Message(models.Model):
    thread = models.ForeignKey(Thread, on_delete=models.PROTECT, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    from_patient = models.BooleanField()
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"Message {self.pk}"


class RequestKind(models.TextChoices):
    CANCEL = "cancel", "Cancel"
    RESCHEDULE = "reschedule", "Reschedule"


class AppointmentRequest(models.Model):
    """A patient's request to cancel or move an appointment, for the front desk's queue."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    appointment = models.ForeignKey(
        "scheduling.Appointment", on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=RequestKind.choices)
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    handled_at = models.DateTimeField(null=True, blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=RequestKind.values), name="portal_request_kind_valid"
            ),
        ]
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} request {self.pk}"


class SummaryRelease(models.Model):
    """A signed treatment session whose plain-language summary the patient may read.

    Released by a nurse or physician from the chart; taking it back deletes the row
    (both audited), so a summary is shown exactly while its row exists.
    """

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    session = models.OneToOneField(
        "treatment.TreatmentSession", on_delete=models.PROTECT, related_name="summary_release"
    )
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    released_at = models.DateTimeField(default=timezone.now)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["clinic", "patient"], name="summary_release_patient_idx")]

    def __str__(self) -> str:
        return f"Summary release {self.pk}"
