"""Trend charts rendered on the server as SVG (one chart serves the page, a PDF and e-mail)."""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from ketaclinic.clinical.instruments import Instrument  # noqa: E402

# Calm band colours, lightest for the mildest; the band's name is written on the chart
# too, so colour is never the only cue.
BAND_COLOURS = ["#e8f5ec", "#f3f7e3", "#fdf5dc", "#fde9d7", "#fbdcdc", "#f6cfd3"]
LINE = "#1f4e79"
CUTOFF = "#8a2432"
# Half a point of room past each end of the score range, so a marker at 0 or at the
# maximum shows whole instead of half cut off by the plot's edge.
PAD = 0.5
_lock = threading.Lock()  # matplotlib's font cache and text layout are not thread-safe


def trend_svg(
    instrument: Instrument,
    points: Sequence[tuple[datetime, int]],
    tz: tzinfo,
    treatments: Sequence[datetime] = (),
) -> str:
    """Return an SVG line chart of totals over time with the severity bands shaded.

    Treatment sessions are dotted vertical lines; a cut-off (PCL-5 provisional PTSD)
    is a dashed horizontal line named on the chart.
    """
    low, high = instrument.score_range()
    fig = Figure(figsize=(6.4, 2.6), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    bands = instrument.severity_bands
    for index, band in enumerate(bands):
        colour = BAND_COLOURS[
            min(index * len(BAND_COLOURS) // max(len(bands), 1), len(BAND_COLOURS) - 1)
        ]
        ax.axhspan(
            band.min - PAD,
            band.max + PAD,
            color=colour,
            zorder=0,
            linewidth=0,
        )
        if band.max - band.min >= 2 or len(bands) <= 4:
            ax.text(
                1.005,
                (band.min + band.max) / 2,
                band.label,
                transform=ax.get_yaxis_transform(),
                va="center",
                ha="left",
                fontsize=7.5,
                color="#4a5565",
            )
    for index, at in enumerate(treatments):
        ax.axvline(
            at,
            color="#7a869a",
            linewidth=0.8,
            linestyle=":",
            zorder=1,
            label="Treatment session" if index == 0 else None,
        )
    cutoff = instrument.scoring.cutoff
    if cutoff is not None:
        ax.axhline(cutoff.value, color=CUTOFF, linewidth=1.2, linestyle="--", zorder=2)
        ax.text(
            1.005,
            cutoff.value,
            f"Cut-off {cutoff.value}",
            transform=ax.get_yaxis_transform(),
            va="center",
            ha="left",
            fontsize=7.5,
            color=CUTOFF,
        )
    if treatments:
        # Named once above the plot, so a dotted line is never a mystery.
        ax.legend(
            loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=7.5, frameon=False, ncols=1
        )
    if points:
        xs = [at.astimezone(tz) for at, _ in points]
        ys = [total for _, total in points]
        ax.plot(xs, ys, color=LINE, linewidth=2, marker="o", markersize=4.5, zorder=3)
        ax.annotate(
            str(ys[-1]),
            (xs[-1], ys[-1]),
            textcoords="offset points",
            xytext=(0, 7),
            ha="center",
            fontsize=9,
            fontweight="bold",
            color=LINE,
        )
        if len(xs) == 1:
            ax.set_xlim(xs[0] - timedelta(days=3), xs[0] + timedelta(days=3))
    ax.set_ylim(low - PAD, high + PAD)
    ax.set_ylabel("Total", fontsize=9, color="#4a5565")
    ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=3, maxticks=8, tz=tz))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b", tz=tz))
    ax.tick_params(labelsize=9, colors="#4a5565")
    ax.yaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="y", color="#ffffff", linewidth=0.6)
    fig.subplots_adjust(left=0.09, right=0.78, top=0.88, bottom=0.13)
    out = io.StringIO()
    with _lock:
        fig.savefig(out, format="svg", metadata={"Date": None})
    svg = out.getvalue()
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg
