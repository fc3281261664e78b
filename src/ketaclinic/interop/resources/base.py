"""FHIR value helpers shared by every mapping: instants, numbers, references, codings."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from ketaclinic.interop import terminology as t

Resource = dict[str, Any]


def instant(value: datetime | None) -> str | None:
    """An aware datetime as FHIR instant/dateTime text (UTC, seconds precision)."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="seconds")


def day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def number(value: Decimal | int | float) -> int | float:
    """A Decimal as a JSON number without losing what was recorded (70.0 -> 70, 36.6 -> 36.6)."""
    if isinstance(value, Decimal):
        normalized = value.normalize()
        return int(normalized) if normalized == normalized.to_integral() else float(normalized)
    return value


def ref(resource_type: str, pk: object, display: str | None = None) -> dict[str, str]:
    found = {"reference": f"{resource_type}/{pk}"}
    if display:
        found["display"] = display
    return found


def coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    found = {"system": system, "code": code}
    if display:
        found["display"] = display
    return found


def concept(*codings: dict[str, str], text: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if codings:
        found["coding"] = list(codings)
    if text:
        found["text"] = text
    return found


def _meta(updated: datetime | None, *profiles: str) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if updated is not None:
        meta["lastUpdated"] = instant(updated)
    if profiles:
        meta["profile"] = [f"{t.US_CORE}/{p}" for p in profiles]
    return meta


def _prune(resource: Resource) -> Resource:
    """Drop keys whose value is None or empty: FHIR forbids empty elements."""
    return {k: v for k, v in resource.items() if v not in (None, "", [], {})}
