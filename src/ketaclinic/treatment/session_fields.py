"""The fields of the session page's forms: text as typed, numbers for the service, yes/no,
and clinic-clock times ('HH:MM', the most recent such moment)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import ProhibitNullCharactersValidator
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ketaclinic.treatment.services import CLOCK_SKEW

NUL = "Remove the invisible NUL character from this field."
NO_NUL = ProhibitNullCharactersValidator(message=NUL)


def latest_clock_time(clock: time, *, now: datetime, tz: Any) -> datetime:
    """The most recent moment the clinic's clock showed `clock`, at most CLOCK_SKEW ahead.

    At 00:05, "23:58" is seven minutes ago (yesterday), not 23 hours ahead.
    """
    local_now = timezone.localtime(now, tz)
    for days in (0, 1):
        day = local_now.date() - timedelta(days=days)
        candidate = datetime.combine(day, clock, tzinfo=tz)
        if candidate <= now + CLOCK_SKEW:
            return candidate
    raise AssertionError("yesterday's time is always in the past")


class Text(forms.CharField):
    """Text as typed (the service trims and checks it); a NUL byte is refused by name."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("strip", False)
        super().__init__(**kwargs)
        self.validators = [
            v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)
        ] + [NO_NUL]


class Number(Text):
    """A number as typed, blank = None; the service parses it and names what it refuses."""

    def clean(self, value: Any) -> Any:
        return super().clean(value) or None


class YesNo(forms.Field):
    """'yes' / 'no' / not answered (None)."""

    def to_python(self, value: Any) -> bool | None:
        return {"yes": True, "no": False}.get(value or "")

    def validate(self, value: Any) -> None:
        pass


class ClinicTime(Text):
    """'HH:MM' (clinic time, the most recent such moment) or an ISO datetime; blank = None."""

    tz: Any = UTC

    def clean(self, value: Any) -> datetime | None:
        raw = (super().clean(value) or "").strip()
        if not raw:
            return None
        if len(raw) <= 5 and ":" in raw:
            try:
                hours, minutes = (int(p) for p in raw.split(":"))
                clock = time(hours, minutes)
            except ValueError:
                raise ValidationError("Enter the time as HH:MM.") from None
            return latest_clock_time(clock, now=timezone.now(), tz=self.tz)
        try:
            parsed = parse_datetime(raw)
        except ValueError:
            parsed = None
        if parsed is None:
            raise ValidationError("Enter the time as HH:MM.")
        if timezone.is_naive(parsed):
            parsed = timezone.make_aware(parsed, self.tz)
        return parsed
