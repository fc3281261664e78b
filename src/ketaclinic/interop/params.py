"""Parsing FHIR search parameter values: dates with prefixes, references, tokens."""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Q

PREFIXES = ("eq", "ne", "lt", "gt", "le", "ge", "sa", "eb", "ap")
_DATE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.\d+)?)?(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


class SearchError(ValueError):
    """A search the server cannot answer as asked: the message names the parameter."""


@dataclass(frozen=True)
class DateRange:
    """A prefixed date search: the instant range [start, end) the value covers, and the prefix."""

    prefix: str
    start: datetime
    end: datetime

    def q(self, field: str) -> Q:
        """The filter on a datetime field for this prefix (FHIR R4 §3.1.1.5.7)."""
        start, end = self.start, self.end
        match self.prefix:
            case "eq" | "ap":
                return Q(**{f"{field}__gte": start, f"{field}__lt": end})
            case "ne":
                return Q(**{f"{field}__lt": start}) | Q(**{f"{field}__gte": end})
            case "lt" | "eb":
                return Q(**{f"{field}__lt": start})
            case "le":
                return Q(**{f"{field}__lt": end})
            case "gt" | "sa":
                return Q(**{f"{field}__gte": end})
            case _:  # "ge"
                return Q(**{f"{field}__gte": start})

    def q_date(self, field: str, tz: zoneinfo.ZoneInfo) -> Q:
        """The same filter on a date field: the clinic's calendar days the range touches."""
        first = self.start.astimezone(tz).date()
        after = (self.end - timedelta(microseconds=1)).astimezone(tz).date() + timedelta(days=1)
        match self.prefix:
            case "eq" | "ap":
                return Q(**{f"{field}__gte": first, f"{field}__lt": after})
            case "ne":
                return Q(**{f"{field}__lt": first}) | Q(**{f"{field}__gte": after})
            case "lt" | "eb":
                return Q(**{f"{field}__lt": first})
            case "le":
                return Q(**{f"{field}__lt": after})
            case "gt" | "sa":
                return Q(**{f"{field}__gte": after})
            case _:
                return Q(**{f"{field}__gte": first})

    def contains(self, when: datetime) -> bool:
        match self.prefix:
            case "eq" | "ap":
                return self.start <= when < self.end
            case "ne":
                return not self.start <= when < self.end
            case "lt" | "eb":
                return when < self.start
            case "le":
                return when < self.end
            case "gt" | "sa":
                return when >= self.end
            case _:
                return when >= self.start


def parse_date(name: str, raw: str, tz: zoneinfo.ZoneInfo) -> DateRange:
    """`ge2026-11-01`, `2026-11`, `lt2026-11-20T10:00:00Z` ... as a DateRange.

    A value without a time zone is read in the clinic's zone: "2026-11-20" means that
    day at the clinic, not in UTC.
    """
    prefix = raw[:2] if raw[:2] in PREFIXES else "eq"
    value = raw[2:] if raw[:2] in PREFIXES else raw
    found = _DATE.match(value)
    if not found:
        raise SearchError(f"{name}: {raw!r} is not a FHIR date (YYYY, YYYY-MM, YYYY-MM-DD[Thh:mm])")
    parts = found.groupdict()
    try:
        year = int(parts["y"])
        if parts["H"] is not None:
            zone: Any = tz
            if parts["tz"]:
                zone = datetime.fromisoformat(
                    f"2000-01-01T00:00{parts['tz'].replace('Z', '+00:00')}"
                ).tzinfo
            start = datetime(
                year, int(parts["m"]), int(parts["d"]), int(parts["H"]), int(parts["M"]),
                int(parts["S"] or 0), tzinfo=zone,
            )  # fmt: skip
            step = timedelta(seconds=1) if parts["S"] is not None else timedelta(minutes=1)
            return DateRange(prefix, start, start + step)
        if parts["d"] is not None:
            first = date(year, int(parts["m"]), int(parts["d"]))
            after = first + timedelta(days=1)
        elif parts["m"] is not None:
            month = int(parts["m"])
            first = date(year, month, 1)
            after = date(year + month // 12, month % 12 + 1, 1)
        else:
            first, after = date(year, 1, 1), date(year + 1, 1, 1)
    except (ValueError, OverflowError) as exc:
        raise SearchError(f"{name}: {raw!r} is not a valid date ({exc})") from None
    return DateRange(
        prefix,
        datetime.combine(first, time.min, tzinfo=tz),
        datetime.combine(after, time.min, tzinfo=tz),
    )


def reference_id(name: str, raw: str, resource_type: str) -> int:
    """`123`, `Patient/123` or a full URL ending in `Patient/123` -> 123."""
    tail = raw.rstrip("/").split("/")
    if len(tail) >= 2 and tail[-2] != resource_type:
        raise SearchError(f"{name}: {raw!r} does not refer to a {resource_type}")
    try:
        found = int(tail[-1])
    except ValueError:
        raise SearchError(f"{name}: {raw!r} is not a {resource_type} id") from None
    if not 0 < found < 2**63:
        raise SearchError(f"{name}: {raw!r} is not a {resource_type} id")
    return found


def tokens(raw: str) -> list[tuple[str | None, str]]:
    """`http://loinc.org|8867-4,vital-signs` -> [(system, code), (None, code)]."""
    found = []
    for part in raw.split(","):
        system, bar, code = part.partition("|")
        found.append((system or None, code) if bar else (None, part))
    return found


def token_matches(codings: list[dict[str, Any]], wanted: list[tuple[str | None, str]]) -> bool:
    """True when any coding matches any wanted (system, code) token."""
    for system, code in wanted:
        for c in codings:
            if c.get("code") == code and (system is None or c.get("system") == system):
                return True
    return False
