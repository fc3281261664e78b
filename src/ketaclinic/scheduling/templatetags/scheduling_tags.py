"""The patient's courses and upcoming appointments on the chart, laid out from
scheduling.chart's read."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.inclusion_tag("scheduling/_chart_panel.html", takes_context=True)
def scheduling_chart(context: Any, section: dict[str, Any]) -> dict[str, Any]:
    return {**section, "allowed": context.get("allowed", frozenset())}
