"""The integration panel on the patient's chart, laid out from integration.chart's read."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.inclusion_tag("integration/_chart_panel.html", takes_context=True)
def integration_chart(context: Any, section: dict[str, Any]) -> dict[str, Any]:
    return {**section, "allowed": context.get("allowed", frozenset())}
