"""Treatment courses and dose orders; the floor (rooms, hours, capacity); appointments.

Times are stored as aware UTC datetimes; weekly patterns (opening hours, staff hours)
are local wall-clock times in the clinic's time zone, so a 08:00 opening stays 08:00
across daylight-saving changes.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from ketaclinic.patients.models import ClinicScopedQuerySet

WEEKDAYS = [(0, "Mon"), (1, "Tue"), (2, "Wed"), (3, "Thu"), (4, "Fri"), (5, "Sat"), (6, "Sun")]


class WeightBasis(models.TextChoices):
    ACTUAL = "actual", "Actual body weight"
    IDEAL = "ideal", "Ideal body weight (Devine)"
    ADJUSTED = "adjusted", "Adjusted body weight"


class CourseStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    STOPPED = "stopped", "Stopped"


class CoursePhase(models.TextChoices):
    INDUCTION = "induction", "Induction"
    MAINTENANCE = "maintenance", "Maintenance"


class ProtocolSnapshot(models.Model):
    """The exact text of a protocol file, stored once per distinct file (by its SHA-256).

    A course names the snapshot it was started with, so a later edit of the file (even
    one that keeps the version) never changes how a running course is dosed, monitored
    or discharged. Snapshots are never edited or deleted.
    """

    sha256 = models.CharField(max_length=64, unique=True)
    code = models.CharField(max_length=60)
    version = models.PositiveIntegerField()
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.code} v{self.version} ({self.sha256[:12]})"


class TreatmentCourse(models.Model):
    """A patient's course of one protocol (code + version). The dose lives in DoseOrder rows."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="treatment_courses"
    )
    protocol_code = models.CharField(max_length=60)
    protocol_version = models.PositiveIntegerField()
    # SHA-256 of the protocol file the course was started with (a ProtocolSnapshot);
    # blank for courses from before snapshots, which follow the current file.
    protocol_hash = models.CharField(max_length=64, blank=True, default="")
    family = models.CharField(max_length=30)
    phase = models.CharField(
        max_length=12, choices=CoursePhase.choices, default=CoursePhase.INDUCTION
    )
    planned_sessions = models.PositiveSmallIntegerField()
    start_date = models.DateField()
    status = models.CharField(
        max_length=10, choices=CourseStatus.choices, default=CourseStatus.PLANNED
    )
    stop_reason = models.CharField(max_length=300, blank=True)
    prescriber = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    signed_at = models.DateTimeField(default=timezone.now)
    activated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ClinicScopedQuerySet.as_manager()

    # What scheduling.chart attaches for the chart's course rows.
    current_order: DoseOrder | None
    review_due: bool

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=CourseStatus.values), name="course_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status="stopped") | ~Q(stop_reason=""),
                name="course_stop_needs_reason",
            ),
        ]
        indexes = [models.Index(fields=["clinic", "patient", "status"], name="course_patient_idx")]

    def __str__(self) -> str:
        return f"{self.protocol_title} v{self.protocol_version} ({self.get_status_display()})"

    @property
    def protocol_title(self) -> str:
        """The protocol's title from its data file (staff read titles, not codes)."""
        from ketaclinic.patients.templatetags.labels import protocol_label

        return protocol_label(self.protocol_code)


class DoseOrder(models.Model):
    """A signed dose for a course. Never edited: a change is a new order with a reason."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    course = models.ForeignKey(TreatmentCourse, on_delete=models.PROTECT, related_name="orders")
    dose_mg_per_kg = models.DecimalField(max_digits=6, decimal_places=3, null=True, blank=True)
    dose_mg = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    weight_basis = models.CharField(max_length=10, choices=WeightBasis.choices, blank=True)
    reason = models.CharField(max_length=300)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    signed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(dose_mg_per_kg__isnull=False) & Q(dose_mg__isnull=True))
                | (Q(dose_mg_per_kg__isnull=True) & Q(dose_mg__isnull=False)),
                name="dose_order_one_kind",
            ),
        ]
        ordering = ["-signed_at", "-pk"]

    def __str__(self) -> str:
        return self.describe

    @property
    def describe(self) -> str:
        if self.dose_mg_per_kg is not None:
            return f"{self.dose_mg_per_kg.normalize():f} mg/kg ({self.weight_basis or 'actual'} weight)"
        return f"{self.dose_mg.normalize():f} mg" if self.dose_mg is not None else ""


class RoomKind(models.TextChoices):
    TREATMENT_CHAIR = "treatment_chair", "Treatment chair"
    CONSULT_ROOM = "consult_room", "Consult room"
    THERAPY_ROOM = "therapy_room", "Therapy room"


class Room(models.Model):
    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=60)
    kind = models.CharField(max_length=20, choices=RoomKind.choices)
    active = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["clinic", "name"], name="room_name_unique_in_clinic"),
            models.CheckConstraint(condition=Q(kind__in=RoomKind.values), name="room_kind_valid"),
        ]
        ordering = ["-kind", "position", "name"]

    def __str__(self) -> str:
        return self.name


class ClinicSchedulingSettings(models.Model):
    """Per-clinic scheduling settings; its row is also the clinic's booking lock."""

    clinic = models.OneToOneField(
        "accounts.Clinic", on_delete=models.CASCADE, related_name="scheduling_settings"
    )
    # How many patients one nurse may monitor at once (issue 5, clinic policy; default 2).
    nurse_capacity = models.PositiveSmallIntegerField(default=2)
    reminder_hours_before = models.PositiveSmallIntegerField(default=48)

    def __str__(self) -> str:
        return f"Scheduling settings ({self.clinic_id})"


class OpeningHours(models.Model):
    """The clinic is open on `weekday` from `opens` to `closes` (local time)."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.CASCADE, related_name="+")
    weekday = models.PositiveSmallIntegerField(choices=WEEKDAYS)
    opens = models.TimeField()
    closes = models.TimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(opens__lt=models.F("closes")), name="opening_ordered"
            ),
        ]
        ordering = ["weekday", "opens"]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M}-{self.closes:%H:%M}"


class StaffHours(models.Model):
    """A staff member's weekly working pattern (local time)."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.CASCADE, related_name="+")
    membership = models.ForeignKey(
        "accounts.Membership", on_delete=models.CASCADE, related_name="working_hours"
    )
    weekday = models.PositiveSmallIntegerField(choices=WEEKDAYS)
    starts = models.TimeField()
    ends = models.TimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(starts__lt=models.F("ends")), name="staff_hours_ordered"
            ),
        ]
        ordering = ["weekday", "starts"]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.starts:%H:%M}-{self.ends:%H:%M}"


class StaffException(models.Model):
    """A dated change to a staff member's pattern: absent all day, or working other hours."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.CASCADE, related_name="+")
    membership = models.ForeignKey(
        "accounts.Membership", on_delete=models.CASCADE, related_name="hour_exceptions"
    )
    day = models.DateField()
    # Both empty = away all day; both set = works exactly these hours that day.
    starts = models.TimeField(null=True, blank=True)
    ends = models.TimeField(null=True, blank=True)
    note = models.CharField(max_length=100, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(starts__isnull=True) & Q(ends__isnull=True))
                | (
                    Q(starts__isnull=False) & Q(ends__isnull=False) & Q(starts__lt=models.F("ends"))
                ),
                name="staff_exception_shape",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day}: {'away' if self.starts is None else f'{self.starts:%H:%M}-{self.ends:%H:%M}'}"


class ClinicClosure(models.Model):
    """The clinic is closed from `starts_on` to `ends_on` (local dates, inclusive)."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.CASCADE, related_name="+")
    starts_on = models.DateField()
    ends_on = models.DateField()
    reason = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(starts_on__lte=models.F("ends_on")), name="closure_ordered"
            ),
        ]
        ordering = ["starts_on", "pk"]

    def __str__(self) -> str:
        return f"Closed {self.starts_on}–{self.ends_on}: {self.reason}"


class AppointmentKind(models.TextChoices):
    CONSULTATION = "consultation", "Consultation"
    TREATMENT = "treatment", "Treatment"
    INTEGRATION = "integration", "Integration"
    FOLLOW_UP = "follow_up", "Follow-up"
    PREPARATION = "preparation", "Preparation"


# Preparation and integration therapy (the integration app): a therapy room may hold them.
THERAPY_KINDS = (AppointmentKind.PREPARATION, AppointmentKind.INTEGRATION)


class AppointmentStatus(models.TextChoices):
    BOOKED = "booked", "Booked"
    CHECKED_IN = "checked_in", "Checked in"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    NO_SHOW = "no_show", "No-show"
    CANCELLED = "cancelled", "Cancelled"


# Statuses that hold their chair and time (a no-show or cancellation frees them).
HOLDING = ("booked", "checked_in", "in_progress", "completed")


class AppointmentQuerySet(ClinicScopedQuerySet):
    def holding(self) -> AppointmentQuerySet:
        return self.filter(status__in=HOLDING)

    def overlapping(self, start: object, end: object) -> AppointmentQuerySet:
        return self.filter(start__lt=end, end__gt=start)


class Appointment(models.Model):
    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="appointments"
    )
    kind = models.CharField(max_length=14, choices=AppointmentKind.choices)
    room = models.ForeignKey(Room, on_delete=models.PROTECT, related_name="appointments")
    course = models.ForeignKey(
        TreatmentCourse,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="appointments",
    )
    staff = models.ForeignKey(
        "accounts.Membership", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    start = models.DateTimeField()
    end = models.DateTimeField()
    status = models.CharField(
        max_length=12, choices=AppointmentStatus.choices, default=AppointmentStatus.BOOKED
    )
    cancel_reason = models.CharField(max_length=300, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    questionnaires_sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AppointmentQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(start__lt=models.F("end")), name="appointment_ordered"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=AppointmentKind.values), name="appointment_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=AppointmentStatus.values), name="appointment_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status="cancelled") | ~Q(cancel_reason=""),
                name="appointment_cancel_needs_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["clinic", "start"], name="appt_clinic_start_idx"),
            models.Index(fields=["room", "start"], name="appt_room_start_idx"),
            models.Index(fields=["patient", "start"], name="appt_patient_start_idx"),
        ]
        ordering = ["start", "pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.start:%Y-%m-%d %H:%M}"


class CalendarFeed(models.Model):
    """A staff member's .ics feed; only the SHA-256 of its URL token is stored."""

    membership = models.OneToOneField(
        "accounts.Membership", on_delete=models.CASCADE, related_name="calendar_feed"
    )
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Calendar feed ({self.membership_id})"


class ReviewDecision(models.TextChoices):
    CONTINUE = "continue", "Continue into maintenance"
    CHANGE = "change", "Continue with a change"
    STOP = "stop", "Stop treatment"


class InductionReview(models.Model):
    """The physician's signed end-of-induction review of a course (never edited).

    The outcome numbers shown when it was signed are stored with it, so the review
    reads the same later whatever questionnaires are added afterwards.
    """

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    course = models.OneToOneField(
        TreatmentCourse, on_delete=models.PROTECT, related_name="induction_review"
    )
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=10, choices=ReviewDecision.choices)
    reason = models.TextField(blank=True)
    maintenance_sessions = models.PositiveSmallIntegerField(null=True, blank=True)
    outcomes = models.JSONField(default=list)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    signed_name = models.CharField(max_length=200)
    signed_at = models.DateTimeField()

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(decision__in=ReviewDecision.values), name="review_decision_valid"
            ),
            models.CheckConstraint(
                condition=Q(decision="continue") | ~Q(reason=""), name="review_change_stop_reason"
            ),
        ]

    def __str__(self) -> str:
        return f"Induction review of course {self.course_id} ({self.decision})"
