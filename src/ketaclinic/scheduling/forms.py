"""Forms for the schedule pages: move an appointment, plan a series, change a status."""

from __future__ import annotations

from datetime import date, datetime, time, tzinfo
from typing import Any, cast

from django import forms

from ketaclinic.accounts.models import Clinic, Membership
from ketaclinic.scheduling.models import WEEKDAYS, AppointmentKind, Room
from ketaclinic.scheduling.services import DEFAULT_MINUTES


class DateInput(forms.DateInput):
    input_type = "date"


class TimeInput(forms.TimeInput):
    input_type = "time"


class StaffChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Membership) -> str:
        return f"{obj.user.get_full_name() or obj.user.username} ({obj.get_role_display().lower()})"


class MoveForm(forms.Form):
    day = forms.DateField(label="Date", widget=DateInput)
    start_time = forms.TimeField(label="Start", widget=TimeInput)
    room = forms.ModelChoiceField(
        queryset=Room.objects.none(), label="Room or chair", empty_label=None
    )
    staff = StaffChoiceField(queryset=Membership.objects.none(), label="Staff", required=False)
    replan = forms.BooleanField(
        required=False,
        label="Re-plan the later sessions of this course to keep the spacing",
    )

    def __init__(
        self, *args: Any, clinic: Clinic, kind: str, has_course: bool, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        room_kind = "treatment_chair" if kind == "treatment" else "consult_room"
        cast(forms.ModelChoiceField, self.fields["room"]).queryset = Room.objects.for_clinic(
            clinic
        ).filter(kind=room_kind, active=True)
        roles = (
            ["nurse", "physician"] if kind == "treatment" else ["physician", "nurse", "therapist"]
        )
        staff = cast(StaffChoiceField, self.fields["staff"])
        staff.queryset = (
            Membership.objects.active()
            .filter(clinic=clinic, role__in=roles)
            .select_related("user")
            .order_by("role", "user__last_name", "user__first_name")
        )
        if kind == "treatment":
            staff.empty_label = "Any free nurse"
            staff.help_text = "A nurse who is free then is assigned if you leave the current one."
        else:
            staff.empty_label = "Nobody"
        if not has_course:
            del self.fields["replan"]
        self.today = clinic.today()

    def clean_day(self) -> date:
        # Further than that is a typo (and year 9999 has no room for the appointment's end).
        day = self.cleaned_data["day"]
        if abs((day - self.today).days) > BOOKING_HORIZON_DAYS:
            raise forms.ValidationError("Choose a day within two years of today.")
        return day

    def start(self, tz: tzinfo) -> datetime:
        return datetime.combine(
            self.cleaned_data["day"], self.cleaned_data["start_time"], tzinfo=tz
        )


class SeriesForm(forms.Form):
    course = forms.ChoiceField(label="Course")
    weekdays = forms.MultipleChoiceField(
        label="Days the patient can come",
        choices=[(str(d), n) for d, n in WEEKDAYS],
        widget=forms.CheckboxSelectMultiple,
        initial=["0", "1", "2", "3", "4"],
    )
    earliest = forms.TimeField(label="Earliest start", widget=TimeInput, initial=time(8, 0))
    latest_start = forms.TimeField(label="Latest start", widget=TimeInput, initial=time(16, 0))

    def __init__(self, *args: Any, courses: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["course"]).choices = courses

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if (
            data.get("earliest")
            and data.get("latest_start")
            and data["earliest"] >= data["latest_start"]
        ):
            self.add_error("latest_start", "The latest start must be after the earliest.")
        return data


class StatusForm(forms.Form):
    status = forms.ChoiceField(label="New status")
    reason = forms.CharField(label="Reason (for a cancellation)", required=False, max_length=300)

    def __init__(self, *args: Any, choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["status"]).choices = choices


class CourseForm(forms.Form):
    protocol = forms.ChoiceField(label="Protocol")
    start_date = forms.DateField(label="Start date", widget=DateInput)
    dose_mg_per_kg = forms.DecimalField(
        label="Dose (mg/kg)",
        required=False,
        min_value=0,
        max_digits=6,
        decimal_places=3,
        help_text="Weight-based protocols. Leave empty for the protocol default.",
    )
    dose_mg = forms.DecimalField(
        label="Dose (mg)",
        required=False,
        min_value=0,
        max_digits=7,
        decimal_places=2,
        help_text="Esketamine: 56 mg for the first session.",
    )
    weight_basis = forms.ChoiceField(
        label="Dosing weight",
        required=False,
        choices=[
            ("", "Protocol default"),
            ("actual", "Actual"),
            ("ideal", "Ideal (Devine)"),
            ("adjusted", "Adjusted"),
        ],
    )

    def __init__(self, *args: Any, protocols: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["protocol"]).choices = protocols


# The kinds the booking dialog offers, in the order the front desk books them.
BOOKING_KINDS = ["consultation", "follow_up", "preparation", "integration", "treatment"]
# How far ahead a single appointment may be booked (clinic policy; keeps dates sane).
BOOKING_HORIZON_DAYS = 730


class BookForm(forms.Form):
    """One appointment: who, what, when, where, with whom (the service checks the floor)."""

    patient = forms.IntegerField(
        widget=forms.HiddenInput, error_messages={"required": "Choose a patient."}
    )
    kind = forms.ChoiceField(label="Appointment")
    day = forms.DateField(label="Date", widget=DateInput)
    start_time = forms.TimeField(label="Start", widget=TimeInput)
    minutes = forms.IntegerField(
        label="Minutes",
        min_value=5,
        max_value=720,
        required=False,
        help_text="From the kind; a treatment takes its protocol's time.",
    )
    room = forms.ModelChoiceField(queryset=Room.objects.none(), label="Room or chair")
    staff = StaffChoiceField(queryset=Membership.objects.none(), label="With", required=False)
    course = forms.ChoiceField(label="Treatment course", required=False)

    def __init__(
        self,
        *args: Any,
        clinic: Clinic,
        today: date,
        courses: list[tuple[str, str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        labels = dict(AppointmentKind.choices)
        self.kind_choices = [(k, labels[k]) for k in BOOKING_KINDS]
        cast(forms.ChoiceField, self.fields["kind"]).choices = self.kind_choices
        self.default_minutes = DEFAULT_MINUTES
        self.today = today
        cast(forms.ModelChoiceField, self.fields["room"]).queryset = Room.objects.for_clinic(
            clinic
        ).filter(active=True)
        staff = cast(StaffChoiceField, self.fields["staff"])
        staff.queryset = (
            Membership.objects.active()
            .filter(clinic=clinic, role__in=["physician", "nurse", "therapist"])
            .select_related("user")
            .order_by("role", "user__last_name", "user__first_name")
        )
        staff.empty_label = "Nobody yet"
        staff.help_text = "Left empty, a treatment gets a nurse who is free then."
        cast(forms.ChoiceField, self.fields["course"]).choices = [
            ("", "Choose the course…"),
            *courses,
        ]

    def clean_day(self) -> date:
        day = self.cleaned_data["day"]
        if day < self.today:
            raise forms.ValidationError("That day has passed.")
        if (day - self.today).days > BOOKING_HORIZON_DAYS:
            raise forms.ValidationError("Book at most two years ahead.")
        return day

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if data.get("kind") == "treatment" and not data.get("course"):
            self.add_error("course", "A treatment is booked for one of the patient's courses.")
        return data

    def start(self, tz: tzinfo) -> datetime:
        return datetime.combine(
            self.cleaned_data["day"], self.cleaned_data["start_time"], tzinfo=tz
        )
