"""Forms of the set-up pages. Validation that the API shares lives in the services."""

from __future__ import annotations

import re
import zoneinfo
from datetime import time
from typing import Any, cast

from django import forms

from ketaclinic.accounts.roles import STAFF_ROLES
from ketaclinic.accounts.services import USERNAME_HELP
from ketaclinic.scheduling.models import WEEKDAYS, RoomKind

WEEKDAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
INTERVAL = re.compile(r"^\s*(\d{1,2})[:.h]?(\d{2})\s*[-–to]+\s*(\d{1,2})[:.h]?(\d{2})\s*$")
HOURS_HELP = "e.g. 08:00-18:00, or 08:00-12:00, 13:00-17:00. Empty = closed."


class DateInput(forms.DateInput):
    input_type = "date"


class ClinicProfileForm(forms.Form):
    name = forms.CharField(max_length=200, label="Clinic name")
    address = forms.CharField(
        max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    phone = forms.CharField(max_length=40, required=False)
    timezone = forms.ChoiceField(label="Time zone")
    dea_registration = forms.CharField(
        max_length=20,
        required=False,
        label="DEA registration",
        help_text="Two letters and seven digits, e.g. RH1234563.",
    )
    rems_certification_number = forms.CharField(
        max_length=40,
        required=False,
        label="REMS setting certification no.",
        help_text="SPRAVATO REMS: needed before esketamine treatments.",
    )
    rems_certified_on = forms.DateField(required=False, label="REMS certified on", widget=DateInput)
    logo = forms.FileField(
        required=False,
        label="Logo",
        help_text="PNG, JPEG or WebP, at most 512 kB.",
        widget=forms.ClearableFileInput(attrs={"accept": "image/png,image/jpeg,image/webp"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        zones = [(z, z) for z in sorted(zoneinfo.available_timezones())]
        cast(forms.ChoiceField, self.fields["timezone"]).choices = zones


class RoomForm(forms.Form):
    name = forms.CharField(max_length=60, help_text="e.g. Chair 1 or Consult A")
    kind = forms.ChoiceField(choices=RoomKind.choices)
    active = forms.BooleanField(required=False, initial=True, label="In use")


def parse_intervals(text: str) -> list[tuple[time, time]]:
    """'08:00-12:00, 13:00-17:00' -> [(08:00, 12:00), (13:00, 17:00)]; '' -> [] (closed)."""
    intervals = []
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        match = INTERVAL.match(part)
        if not match:
            raise forms.ValidationError(f"“{part[:40]}” is not a time range like 08:00-17:00.")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
            raise forms.ValidationError(f"“{part[:40]}” is not a time of day.")
        starts, ends = time(h1, m1), time(23, 59) if h2 == 24 else time(h2, m2)
        if ends <= starts:
            raise forms.ValidationError(f"In “{part[:40]}” the end must be after the start.")
        intervals.append((starts, ends))
    intervals.sort()
    for (_, first_end), (second_start, _) in zip(intervals, intervals[1:], strict=False):
        if second_start < first_end:
            raise forms.ValidationError("Two ranges on this day overlap.")
    return intervals


def format_intervals(intervals: list[tuple[time, time]]) -> str:
    return ", ".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in intervals)


class WeeklyHoursForm(forms.Form):
    """One text field per weekday: several ranges separated by commas, empty = closed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for number, _ in WEEKDAYS:
            self.fields[f"day_{number}"] = forms.CharField(
                label=WEEKDAY_NAMES[number],
                required=False,
                max_length=200,
                widget=forms.TextInput(attrs={"placeholder": "closed", "autocomplete": "off"}),
            )

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        for number, _ in WEEKDAYS:
            name = f"day_{number}"
            if name in data:
                try:
                    data[name] = parse_intervals(data[name])
                except forms.ValidationError as exc:
                    self.add_error(name, exc)
        return data

    def hours(self) -> list[tuple[int, time, time]]:
        return [
            (number, a, b)
            for number, _ in WEEKDAYS
            for a, b in self.cleaned_data.get(f"day_{number}", [])
        ]

    @staticmethod
    def initial_from(pattern: dict[int, list[tuple[time, time]]]) -> dict[str, str]:
        return {f"day_{d}": format_intervals(sorted(v)) for d, v in pattern.items()}


class ClosureForm(forms.Form):
    starts_on = forms.DateField(label="First day closed", widget=DateInput)
    ends_on = forms.DateField(
        label="Last day closed", widget=DateInput, required=False, help_text="Empty = one day."
    )
    reason = forms.CharField(max_length=100, help_text="e.g. Christmas Day")


class ExceptionForm(forms.Form):
    day = forms.DateField(widget=DateInput)
    hours = forms.CharField(
        required=False,
        max_length=20,
        label="Hours that day",
        help_text="e.g. 12:00-20:00 for other hours; empty = away all day.",
    )
    note = forms.CharField(max_length=100, required=False, help_text="e.g. annual leave")

    def clean_hours(self) -> list[tuple[time, time]]:
        found = parse_intervals(self.cleaned_data["hours"])
        if len(found) > 1:
            raise forms.ValidationError("Give one range for an exception day.")
        return found


class SchedulingSettingsForm(forms.Form):
    nurse_capacity = forms.IntegerField(
        min_value=1,
        max_value=4,
        label="Patients one nurse monitors at once",
        help_text="Clinic policy, 1 to 4.",
    )
    reminder_hours_before = forms.IntegerField(
        min_value=1,
        max_value=168,
        label="Send appointment reminders (hours before)",
        help_text="1 to 168 hours.",
    )


ROLE_CHOICES = [(r.value, r.label) for r in STAFF_ROLES]


class StaffEditForm(forms.Form):
    first_name = forms.CharField(max_length=150)
    last_name = forms.CharField(max_length=150)
    email = forms.EmailField(required=False, help_text="Password-reset links go here.")
    role = forms.ChoiceField(choices=ROLE_CHOICES)


class NewClinicForm(forms.Form):
    name = forms.CharField(max_length=200, label="Clinic name")
    slug = forms.CharField(
        max_length=50, label="Short name", help_text="Lower-case, e.g. harbor-light."
    )
    timezone = forms.ChoiceField(label="Time zone")
    admin_username = forms.CharField(
        max_length=150, label="First admin's username", help_text=USERNAME_HELP
    )
    admin_first_name = forms.CharField(max_length=150, label="First name")
    admin_last_name = forms.CharField(max_length=150, label="Last name")
    admin_email = forms.EmailField(required=False, label="E-mail")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        zones = [(z, z) for z in sorted(zoneinfo.available_timezones())]
        cast(forms.ChoiceField, self.fields["timezone"]).choices = zones
