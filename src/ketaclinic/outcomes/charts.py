"""The Kaplan–Meier chart as a small SVG built from the curve's steps (no plotting library).

The curve has one step per distinct day, so drawing it costs the same for ten patients
or ten thousand.
"""

from __future__ import annotations

import math
from xml.sax.saxutils import escape

from ketaclinic.clinical.statistics import KaplanMeier

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 52, 16, 16, 40
LINE = "#0b6b6b"
GRID = "#d9dee5"
MUTED = "#5b6675"


def _day_ticks(last: float) -> list[int]:
    """Round day marks (weekly, fortnightly, monthly ...) for an axis ending at `last`."""
    for step in (7, 14, 28, 56, 91, 182, 364):
        if last / step <= 8:
            break
    return list(range(0, int(math.ceil(last / step)) * step + 1, step))


def km_svg(curve: KaplanMeier, *, title: str) -> str:
    """Return an SVG of the cumulative share responded over days since the first dose.

    Censored patients (still in treatment, no response yet) are ticks on the line; the
    median, when reached, is a dashed line at 50 % with its day written beside it.
    """
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    last = max((s.time for s in curve.steps), default=28.0)
    ticks = _day_ticks(max(last, 7.0))
    x_max = float(ticks[-1])

    def x(day: float) -> float:
        return LEFT + plot_w * day / x_max

    def y(share: float) -> float:
        return TOP + plot_h * (1 - share)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'class="km-chart" role="img" aria-labelledby="km-title">',
        f'<title id="km-title">{escape(title)}</title>',
    ]
    for share in (0, 0.25, 0.5, 0.75, 1):
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(share):.1f}" y2="{y(share):.1f}" '
            f'stroke="{GRID}" stroke-width="1"/>'
            f'<text x="{LEFT - 8}" y="{y(share) + 4:.1f}" text-anchor="end" font-size="12" '
            f'fill="{MUTED}">{int(share * 100)} %</text>'
        )
    day: float  # a tick's day here, a step's time below
    for day in ticks:
        parts.append(
            f'<text x="{x(day):.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle" '
            f'font-size="12" fill="{MUTED}">{day}</text>'
        )
    parts.append(
        f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 4}" text-anchor="middle" font-size="12" '
        f'fill="{MUTED}">days since the first dose</text>'
    )
    if curve.n == 0:
        parts.append(
            f'<text x="{LEFT + plot_w / 2:.1f}" y="{TOP + plot_h / 2:.1f}" text-anchor="middle" '
            f'font-size="14" fill="{MUTED}">No patients with a baseline and a follow-up yet</text>'
        )
        parts.append("</svg>")
        return "".join(parts)
    points = [f"{x(0):.1f},{y(0):.1f}"]
    share = 0.0
    ticks_at: list[tuple[float, float]] = []
    for step in curve.steps:
        new_share = 1 - step.survival
        if step.events:
            points.append(f"{x(step.time):.1f},{y(share):.1f}")
            points.append(f"{x(step.time):.1f},{y(new_share):.1f}")
            share = new_share
        if step.censored:
            ticks_at.append((step.time, share))
    points.append(f"{x(last):.1f},{y(share):.1f}")
    parts.append(
        f'<polyline fill="none" stroke="{LINE}" stroke-width="2.5" points="{" ".join(points)}"/>'
    )
    for day, at in ticks_at:
        parts.append(
            f'<line x1="{x(day):.1f}" x2="{x(day):.1f}" y1="{y(at) - 5:.1f}" y2="{y(at) + 5:.1f}" '
            f'stroke="{LINE}" stroke-width="1.5"/>'
        )
    if curve.median is not None:
        parts.append(
            f'<line x1="{LEFT}" x2="{x(curve.median):.1f}" y1="{y(0.5):.1f}" y2="{y(0.5):.1f}" '
            f'stroke="{MUTED}" stroke-dasharray="4 4"/>'
            f'<line x1="{x(curve.median):.1f}" x2="{x(curve.median):.1f}" y1="{y(0.5):.1f}" '
            f'y2="{y(0):.1f}" stroke="{MUTED}" stroke-dasharray="4 4"/>'
            f'<text x="{x(curve.median) + 6:.1f}" y="{y(0.5) - 6:.1f}" font-size="12" '
            f'fill="#1d2733">median {curve.median:g} days</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
