from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template

from ketaclinic.inventory.services import unwitnessed_waste

register = template.Library()


@register.simple_tag(takes_context=True)
def unwitnessed_waste_count(context: dict[str, Any]) -> int:
    """Waste entries of the current clinic awaiting their witness (one query, for the nav)."""
    clinic = context.get("current_clinic")
    if clinic is None:
        return 0
    return unwitnessed_waste(clinic).count()


@register.filter
def qty(value: Decimal | None) -> str:
    """A quantity without trailing zeros: 9.300 -> 9.3, 10.000 -> 10."""
    if value is None:
        return ""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@register.filter
def signed(value: Decimal | None) -> str:
    """A change with its sign: +100, −9.3 (a true minus sign)."""
    if value is None:
        return ""
    text = qty(abs(value))
    return f"+{text}" if value > 0 else (f"−{text}" if value < 0 else text)


@register.filter
def units(value: Decimal | None, unit: str) -> str:
    """A quantity with its unit: "70 mL", "1 device", "5 devices"."""
    text = qty(value)
    if unit == "device" and value is not None and value != 1:
        return f"{text} devices"
    return f"{text} {unit}"
