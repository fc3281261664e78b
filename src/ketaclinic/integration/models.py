"""Integration support: session details, group circles, the planned integration of a
course, progress notes (the record), psychotherapy notes (kept apart), treatment plans.

Psychotherapy notes (HIPAA 45 CFR 164.501) live in their own table and are read only
through ``notes.own_psychotherapy_notes`` (author = the reader). Nothing else in the
code base selects from that table: no page, export, FHIR resource or report.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from ketaclinic.patients.models import ClinicScopedQuerySet


class Mode(models.TextChoices):
    IN_PERSON = "in_person", "In person"
    VIDEO = "video", "Video"


class SessionDetail(models.Model):
    """How an individual preparation or integration appointment is held."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    appointment = models.OneToOneField(
        "scheduling.Appointment", on_delete=models.CASCADE, related_name="integration_detail"
    )
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.IN_PERSON)
    meeting_url = models.URLField(max_length=300, blank=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(mode__in=Mode.values), name="integration_detail_mode_valid"
            ),
            models.CheckConstraint(
                condition=Q(mode="in_person") | ~Q(meeting_url=""),
                name="integration_video_needs_link",
            ),
        ]

    def __str__(self) -> str:
        return self.get_mode_display()


class CircleStatus(models.TextChoices):
    BOOKED = "booked", "Booked"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class Circle(models.Model):
    """A group integration circle: one room and therapist, several patients."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    title = models.CharField(max_length=80)
    therapist = models.ForeignKey("accounts.Membership", on_delete=models.PROTECT, related_name="+")
    room = models.ForeignKey("scheduling.Room", on_delete=models.PROTECT, related_name="+")
    start = models.DateTimeField()
    end = models.DateTimeField()
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.IN_PERSON)
    meeting_url = models.URLField(max_length=300, blank=True)
    capacity = models.PositiveSmallIntegerField(default=8)
    status = models.CharField(
        max_length=10, choices=CircleStatus.choices, default=CircleStatus.BOOKED
    )
    cancel_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(start__lt=models.F("end")), name="circle_ordered"),
            models.CheckConstraint(
                condition=Q(status__in=CircleStatus.values), name="circle_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(mode="in_person") | ~Q(meeting_url=""),
                name="circle_video_needs_link",
            ),
        ]
        indexes = [models.Index(fields=["clinic", "start"], name="circle_clinic_start_idx")]
        ordering = ["start", "pk"]

    def __str__(self) -> str:
        return f"{self.title} {self.start:%Y-%m-%d %H:%M}"


class Attendance(models.TextChoices):
    EXPECTED = "expected", "Expected"
    ATTENDED = "attended", "Attended"
    ABSENT = "absent", "Absent"
    EXCUSED = "excused", "Excused"


class CircleSeat(models.Model):
    """One patient in a circle, with their attendance."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    circle = models.ForeignKey(Circle, on_delete=models.PROTECT, related_name="seats")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    attendance = models.CharField(
        max_length=10, choices=Attendance.choices, default=Attendance.EXPECTED
    )
    marked_at = models.DateTimeField(null=True, blank=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["circle", "patient"], name="circle_seat_unique"),
            models.CheckConstraint(
                condition=Q(attendance__in=Attendance.values), name="circle_attendance_valid"
            ),
        ]
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.get_attendance_display()


class PlannedSession(models.Model):
    """A preparation or integration session a course's protocol asks for, and its window.

    ``dosing`` is the dosing appointment it follows (none for preparation); the window
    follows that appointment when it moves. ``appointment`` is the booked session.
    """

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    course = models.ForeignKey(
        "scheduling.TreatmentCourse", on_delete=models.PROTECT, related_name="+"
    )
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=12)  # preparation | integration
    dosing_number = models.PositiveSmallIntegerField(default=0)
    dosing = models.ForeignKey(
        "scheduling.Appointment", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    opens = models.DateTimeField()
    closes = models.DateTimeField()
    appointment = models.ForeignKey(
        "scheduling.Appointment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["preparation", "integration"]),
                name="planned_session_kind_valid",
            ),
            models.UniqueConstraint(
                fields=["course", "kind", "dosing_number"], name="planned_session_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["clinic", "closes"], name="planned_session_closes_idx"),
            models.Index(fields=["clinic", "patient"], name="planned_session_patient_idx"),
        ]
        ordering = ["opens", "pk"]

    def __str__(self) -> str:
        return f"{self.kind} after dose {self.dosing_number}"


class PlanChangeAction(models.TextChoices):
    CANCELLED = "cancelled", "Cancelled: its dosing session was dropped"
    MOVED = "moved", "Moved to follow the next dosing session"
    TO_REBOOK = "to_rebook", "To rebook: no free time after the next dosing session"


class PlanChange(models.Model):
    """What a dropped dosing session (cancelled, no-show, cut when the course ended) did to
    a planned integration session: the therapist's work list shows it (replanning.py)."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    planned = models.ForeignKey(PlannedSession, on_delete=models.PROTECT, related_name="changes")
    dropped = models.ForeignKey(
        "scheduling.Appointment", on_delete=models.PROTECT, related_name="+"
    )
    session = models.ForeignKey(
        "scheduling.Appointment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    therapist = models.ForeignKey(
        "accounts.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=12, choices=PlanChangeAction.choices)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["clinic", "created_at"], name="plan_change_created_idx"),
        ]
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.action}: planned session {self.planned_id}"


class NoteTemplate(models.TextChoices):
    DAP = "dap", "DAP (data, assessment, plan)"
    SOAP = "soap", "SOAP (subjective, objective, assessment, plan)"


class Risk(models.TextChoices):
    NONE = "none", "No risk identified"
    CHRONIC = "chronic", "Known risk, unchanged"
    NEW_SI = "new_si", "New suicidal ideation"


class ProgressNote(models.Model):
    """A session's progress note: part of the record, visible to the care team by role.

    Signed by its author; after signing it is never edited (amendments keep it).
    """

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    appointment = models.ForeignKey(
        "scheduling.Appointment", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    circle = models.ForeignKey(
        Circle, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    template = models.CharField(max_length=6, choices=NoteTemplate.choices)
    fields = models.JSONField(default=dict)
    risk = models.CharField(max_length=10, choices=Risk.choices, default=Risk.NONE)
    text = models.TextField(blank=True)
    # Face-to-face psychotherapy time the therapist documents; billing codes the session
    # from it (90832/90834/90837), never from the booked length.
    psychotherapy_minutes = models.PositiveSmallIntegerField(null=True, blank=True)
    alert = models.ForeignKey(
        "measures.Alert", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    signed_at = models.DateTimeField(null=True, blank=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(psychotherapy_minutes__isnull=True)
                | Q(psychotherapy_minutes__gte=1, psychotherapy_minutes__lte=240),
                name="progress_note_minutes_range",
            ),
            models.CheckConstraint(
                condition=Q(template__in=NoteTemplate.values), name="progress_note_template_valid"
            ),
            models.CheckConstraint(condition=Q(risk__in=Risk.values), name="progress_note_risk"),
        ]
        indexes = [
            models.Index(fields=["clinic", "patient", "created_at"], name="progress_note_pt_idx"),
            models.Index(fields=["clinic", "author", "signed_at"], name="progress_note_due_idx"),
        ]
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Progress note {self.created_at:%Y-%m-%d}"


class NoteAmendment(models.Model):
    """A change to a signed progress note: the reason and the new text; the original stays."""

    note = models.ForeignKey(ProgressNote, on_delete=models.PROTECT, related_name="amendments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=300)
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"Amendment {self.created_at:%Y-%m-%d}"


class PsychotherapyNote(models.Model):
    """A psychotherapy note (45 CFR 164.501): read only by its author, never in the record."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    appointment = models.ForeignKey(
        "scheduling.Appointment", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    circle = models.ForeignKey(
        Circle, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["author", "patient", "created_at"], name="psy_note_author_idx"),
        ]
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Psychotherapy note {self.pk}"


class PsychotherapyRelease(models.Model):
    """A patient's authorization (164.508(a)(2)) under which the author released a note."""

    note = models.ForeignKey(PsychotherapyNote, on_delete=models.PROTECT, related_name="releases")
    authorized_on = models.DateField()
    scope = models.CharField(max_length=300)
    recipient = models.CharField(max_length=200)
    expires_on = models.DateField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(authorized_on__lte=models.F("expires_on")),
                name="psy_release_ordered",
            ),
        ]
        ordering = ["recorded_at", "pk"]

    def __str__(self) -> str:
        return f"Release {self.authorized_on}"


class TreatmentPlan(models.Model):
    """A patient's integration treatment plan: goals, interventions, review date."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.OneToOneField(
        "patients.Patient", on_delete=models.PROTECT, related_name="integration_plan"
    )
    interventions = models.TextField(blank=True)
    review_on = models.DateField()
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)

    objects = ClinicScopedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"Treatment plan (review {self.review_on})"


class MeasureKind(models.TextChoices):
    INSTRUMENT = "instrument", "A questionnaire score (e.g. PHQ-9)"
    NRS = "nrs", "Pain 0-10 (NRS)"
    PERSONAL = "personal", "A personal 0-10 scale"


class PlanGoal(models.Model):
    """A goal in the patient's words, with the measure that shows progress."""

    plan = models.ForeignKey(TreatmentPlan, on_delete=models.CASCADE, related_name="goals")
    position = models.PositiveSmallIntegerField(default=0)
    words = models.CharField(max_length=300)
    measure = models.CharField(max_length=10, choices=MeasureKind.choices)
    instrument = models.CharField(max_length=30, blank=True)
    scale_label = models.CharField(max_length=80, blank=True)
    baseline = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    target = models.DecimalField(max_digits=5, decimal_places=1)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(measure__in=MeasureKind.values), name="plan_goal_measure_valid"
            ),
        ]
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return f"Goal {self.position + 1}"


class GoalRating(models.Model):
    """A rating on a goal's NRS or personal scale (0-10), taken in a session."""

    goal = models.ForeignKey(PlanGoal, on_delete=models.CASCADE, related_name="ratings")
    value = models.DecimalField(max_digits=4, decimal_places=1)
    at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.value}"


class HomeworkKind(models.TextChoices):
    JOURNAL = "journal", "Journal prompt"
    BREATHING = "breathing", "Breathing practice"
    WALKING = "walking", "Walking"
    OTHER = "other", "Other practice"


class Homework(models.Model):
    """A practice between sessions; the patient portal shows it and the patient marks it done."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=10, choices=HomeworkKind.choices)
    title = models.CharField(max_length=120)
    instructions = models.TextField(blank=True)
    due_on = models.DateField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=HomeworkKind.values), name="homework_kind_valid"
            ),
        ]
        indexes = [models.Index(fields=["clinic", "patient"], name="homework_patient_idx")]
        ordering = ["done_at", "due_on", "pk"]

    def __str__(self) -> str:
        return self.title


# The patient's journal (written in the portal, shared entries read on the timeline).
from ketaclinic.integration.journal import JournalEntry  # noqa: E402, F401
