"""Page forms for integration support (the API takes the same fields as JSON)."""

from __future__ import annotations

from django import forms
from django.utils import timezone

from ketaclinic.integration.models import HomeworkKind, MeasureKind, Mode, NoteTemplate, Risk
from ketaclinic.integration.notes import (
    FIELD_LABELS,
    MAX_FIELD,
    MAX_PSYCHOTHERAPY_MINUTES,
    MAX_TEXT,
    MINUTES_ERROR,
)

TEXTAREA = {"rows": 3}


class ProgressNoteForm(forms.Form):
    template = forms.ChoiceField(label="Template", choices=NoteTemplate.choices)
    appointment = forms.TypedChoiceField(
        label="Session", coerce=int, required=False, empty_value=None, choices=[]
    )
    data = forms.CharField(  # type: ignore[assignment]  # a field named "data" (SOAP); Django removes fields from the class
        label=FIELD_LABELS["data"],
        required=False,
        max_length=MAX_FIELD,
        widget=forms.Textarea(attrs=TEXTAREA),
    )
    subjective = forms.CharField(
        label=FIELD_LABELS["subjective"],
        required=False,
        max_length=MAX_FIELD,
        widget=forms.Textarea(attrs=TEXTAREA),
    )
    objective = forms.CharField(
        label=FIELD_LABELS["objective"],
        required=False,
        max_length=MAX_FIELD,
        widget=forms.Textarea(attrs=TEXTAREA),
    )
    assessment = forms.CharField(
        label=FIELD_LABELS["assessment"],
        required=False,
        max_length=MAX_FIELD,
        widget=forms.Textarea(attrs=TEXTAREA),
    )
    plan = forms.CharField(
        label=FIELD_LABELS["plan"],
        required=False,
        max_length=MAX_FIELD,
        widget=forms.Textarea(attrs=TEXTAREA),
    )
    themes = forms.CharField(
        label=FIELD_LABELS["themes"],
        required=False,
        max_length=MAX_FIELD,
        widget=forms.Textarea(attrs=TEXTAREA),
    )
    coping = forms.CharField(
        label=FIELD_LABELS["coping"],
        required=False,
        max_length=MAX_FIELD,
        widget=forms.Textarea(attrs=TEXTAREA),
    )
    homework = forms.CharField(
        label=FIELD_LABELS["homework"],
        required=False,
        max_length=MAX_FIELD,
        widget=forms.Textarea(attrs=TEXTAREA),
    )
    psychotherapy_minutes = forms.IntegerField(
        label="Psychotherapy time (minutes, face to face)",
        required=False,
        min_value=1,
        max_value=MAX_PSYCHOTHERAPY_MINUTES,
        error_messages={
            "invalid": MINUTES_ERROR,
            "min_value": MINUTES_ERROR,
            "max_value": MINUTES_ERROR,
        },
        help_text="The time you spent in psychotherapy with the patient; billing codes the "
        "session from it, not from the booked length.",
    )
    risk = forms.ChoiceField(
        label="Risk assessment",
        choices=Risk.choices,
        widget=forms.RadioSelect,
        help_text="New suicidal ideation opens an urgent alert that a person must close before the next dose.",
    )
    text = forms.CharField(
        label="Free text",
        required=False,
        max_length=MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    sign = forms.BooleanField(label="Sign the note now", required=False)

    def __init__(self, *args, appointments=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["appointment"].choices = [("", "Not tied to a session")] + [
            (a.pk, f"{a.get_kind_display()} · {timezone.localtime(a.start):%a %d %b %Y %H:%M}")
            for a in appointments
        ]


class AmendForm(forms.Form):
    reason = forms.CharField(label="Why the note is amended", max_length=300)
    text = forms.CharField(
        label="Amendment", max_length=MAX_TEXT, widget=forms.Textarea(attrs={"rows": 4})
    )


class PsychotherapyNoteForm(forms.Form):
    text = forms.CharField(
        label="Psychotherapy note (private)",
        max_length=MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text="Only you will ever read this note. It is not part of the record, the "
        "patient's access, exports or FHIR (45 CFR 164.501, 164.524(a)(1)(i)).",
    )


class ReleaseForm(forms.Form):
    authorized_on = forms.DateField(
        label="The patient signed the authorization on",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    expires_on = forms.DateField(
        label="The authorization expires on", widget=forms.DateInput(attrs={"type": "date"})
    )
    scope = forms.CharField(label="What it authorizes (notes, purpose)", max_length=300)
    recipient = forms.CharField(label="Released to", max_length=200)


class PlanForm(forms.Form):
    review_on = forms.DateField(
        label="Review the plan on", widget=forms.DateInput(attrs={"type": "date"})
    )
    interventions = forms.CharField(
        label="Interventions",
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs=TEXTAREA),
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)


GOAL_ROWS = 3


class GoalForm(forms.Form):
    words = forms.CharField(label="Goal, in the patient's words", required=False, max_length=300)
    measure = forms.ChoiceField(label="Measured by", choices=MeasureKind.choices, required=False)
    instrument = forms.ChoiceField(label="Questionnaire", choices=[], required=False)
    scale_label = forms.CharField(label="Personal scale (0-10) name", required=False, max_length=80)
    baseline = forms.DecimalField(label="Baseline", required=False, max_digits=5, decimal_places=1)
    target = forms.DecimalField(label="Target", required=False, max_digits=5, decimal_places=1)

    def __init__(self, *args, instrument_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["instrument"].choices = [("", "—")] + list(instrument_choices)


class HomeworkForm(forms.Form):
    kind = forms.ChoiceField(label="Practice", choices=HomeworkKind.choices)
    title = forms.CharField(label="Title", max_length=120)
    instructions = forms.CharField(
        label="Instructions",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    due_on = forms.DateField(
        label="Due", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


class RatingForm(forms.Form):
    value = forms.DecimalField(
        label="Rating today (0-10)", min_value=0, max_value=10, max_digits=3, decimal_places=1
    )


class SessionFormatForm(forms.Form):
    mode = forms.ChoiceField(label="Held", choices=Mode.choices, widget=forms.RadioSelect)
    meeting_url = forms.CharField(label="Meeting link (video)", required=False, max_length=300)


class CircleForm(forms.Form):
    title = forms.CharField(label="Name", max_length=80)
    therapist = forms.TypedChoiceField(label="Therapist", coerce=int, choices=[])
    room = forms.TypedChoiceField(label="Room", coerce=int, choices=[])
    start = forms.DateTimeField(
        label="Starts",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    minutes = forms.IntegerField(label="Minutes", initial=90, min_value=15, max_value=240)
    capacity = forms.IntegerField(label="Seats", initial=8, min_value=2, max_value=12)
    mode = forms.ChoiceField(
        label="Held", choices=Mode.choices, widget=forms.RadioSelect, initial=Mode.IN_PERSON
    )
    meeting_url = forms.CharField(label="Meeting link (video)", required=False, max_length=300)
    patients = forms.TypedMultipleChoiceField(
        label="Patients",
        coerce=int,
        choices=[],
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, therapists=(), rooms=(), patients=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["therapist"].choices = [
            (m.pk, m.user.get_full_name() or m.user.username) for m in therapists
        ]
        self.fields["room"].choices = [(r.pk, r.name) for r in rooms]
        self.fields["patients"].choices = [(p.pk, f"{p.display_name} ({p.mrn})") for p in patients]


class AddSeatForm(forms.Form):
    patient = forms.TypedChoiceField(label="Add a patient", coerce=int, choices=[])

    def __init__(self, *args, patients=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["patient"].choices = [(p.pk, f"{p.display_name} ({p.mrn})") for p in patients]


class CancelForm(forms.Form):
    reason = forms.CharField(label="Why the circle is cancelled", max_length=300)
