"""Formatting for the outcome pages: rates as percentages, intervals, drill-down links."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import template
from django.urls import reverse

register = template.Library()


@register.filter
def pct(value: float | None) -> str:
    """0.4167 -> '41.7 %'; None -> '—'."""
    if value is None:
        return "—"
    return f"{value * 100:.1f} %"


@register.filter
def ci(bounds: list[float] | None) -> str:
    """[0.24, 0.58] -> '24–58 %' (the 95 % Wilson interval); None -> ''."""
    if not bounds:
        return ""
    return f"{bounds[0] * 100:.0f}–{bounds[1] * 100:.0f} %"


@register.filter
def number(value: float | None) -> str:
    """A median or rate per 100 with at most one decimal; None -> '—'."""
    if value is None:
        return "—"
    return f"{value:.1f}".removesuffix(".0")


@register.filter
def get_item(mapping: dict[str, Any], key: str) -> Any:
    return mapping.get(key)


@register.simple_tag
def drill(query: dict[str, str], measure: str, **extra: Any) -> str:
    """The URL of the patient list behind a number (filters travel with it, never names)."""
    params = {**query, "measure": measure, **{k: v for k, v in extra.items() if v}}
    return reverse("outcomes_patients") + "?" + urlencode(params)


@register.simple_tag
def export_url(query: dict[str, str], table: str) -> str:
    return reverse("outcomes_export", args=[table]) + "?" + urlencode(query)


@register.simple_tag
def with_params(query: dict[str, str], **changes: str) -> str:
    """The dashboard's query string with some values changed (instrument tabs)."""
    return "?" + urlencode({**query, **changes})


@register.filter
def urlencode_dict(query: dict[str, str]) -> str:
    return urlencode(query)
