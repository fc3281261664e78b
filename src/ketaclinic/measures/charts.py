"""Trend charts for pages, drawn as SVG by a small builder at a cost that ignores history.

matplotlib took 0.5–7 s a chart, under a process-wide lock, growing with every point.
This builder writes the SVG elements directly: the shaded severity bands, a dotted line
per treatment session, the cut-off, and the totals. Past what the plot's width can show,
points are aggregated per pixel column (first, lowest, highest and last of each column,
the "M4" scheme of Jugel et al., VLDB 2014), so a peak is never averaged away and the
output stays the same size however long the history.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta, tzinfo
from xml.sax.saxutils import escape

from ketaclinic.clinical.instruments import Instrument

# Calm band colours, lightest for the mildest; the band's name is written on the chart
# too, so colour is never the only cue.
BAND_COLOURS = ["#e8f5ec", "#f3f7e3", "#fdf5dc", "#fde9d7", "#fbdcdc", "#f6cfd3"]
LINE = "#1f4e79"
CUTOFF = "#8a2432"
SESSION = "#7a869a"
INK = "#4a5565"
# Half a point of room past each end of the score range, so a marker at 0 or at the
# maximum shows whole instead of half cut off by the plot's edge.
PAD = 0.5

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 500, 30, 228  # the plot area; band names to its right
# Markers are drawn while they stay apart; a denser series is a line only.
MAX_MARKERS = 60
COLUMN = 3  # px: one aggregation bucket


def trend_svg(
    instrument: Instrument,
    points: Sequence[tuple[datetime, int]],
    tz: tzinfo,
    treatments: Sequence[datetime] = (),
) -> str:
    """Return an SVG line chart of totals over time with the severity bands shaded.

    Treatment sessions are dotted vertical lines, named once in a legend; a cut-off
    (PCL-5 provisional PTSD) is a dashed horizontal line named on the chart.
    """
    low, high = instrument.score_range()
    y_of = _Scale(low - PAD, high + PAD, BOTTOM, TOP)
    start, end = _time_domain([at for at, _ in points] + list(treatments))
    x_of = _TimeScale(start, end)

    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-labelledby="chart-title" '
        'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif" font-size="11">',
        f'<title id="chart-title">{escape(_summary(instrument, points, tz))}</title>',
        _rect("frame", LEFT, TOP, RIGHT - LEFT, BOTTOM - TOP, "#f7f9fc"),
    ]
    out += _bands(instrument, y_of)
    out += _y_axis(low, high, y_of)
    out += _x_axis(start, end, tz, x_of)
    out += _sessions(treatments, x_of)
    cutoff = instrument.scoring.cutoff
    if cutoff is not None:
        y = y_of(cutoff.value)
        out.append(
            f'<line class="cutoff" x1="{LEFT}" y1="{y:.3f}" x2="{RIGHT}" y2="{y:.3f}" '
            f'stroke="{CUTOFF}" stroke-width="1.2" stroke-dasharray="5 3"/>'
        )
        out.append(_text(RIGHT + 4, y + 4, f"Cut-off {cutoff.value}", CUTOFF))
    out += _series(points, x_of, y_of)
    out.append("</svg>")
    return "\n".join(out)


def _summary(instrument: Instrument, points: Sequence[tuple[datetime, int]], tz: tzinfo) -> str:
    if not points:
        return f"{instrument.title}: no scores yet"
    first, last = points[0][0].astimezone(tz), points[-1][0].astimezone(tz)
    return (
        f"{instrument.title} totals, {len(points)} scores from {first:%d %b %Y} to "
        f"{last:%d %b %Y}; latest {points[-1][1]}"
    )


def _bands(instrument: Instrument, y_of: _Scale) -> list[str]:
    bands = instrument.severity_bands
    out = []
    for index, band in enumerate(bands):
        colour = BAND_COLOURS[
            min(index * len(BAND_COLOURS) // max(len(bands), 1), len(BAND_COLOURS) - 1)
        ]
        # Rounded before subtracting, so adjacent bands meet exactly.
        top, bottom = round(y_of(band.max + PAD), 3), round(y_of(band.min - PAD), 3)
        out.append(_rect("band", LEFT, top, RIGHT - LEFT, bottom - top, colour))
        if band.max - band.min >= 2 or len(bands) <= 4:
            out.append(_text(RIGHT + 4, (top + bottom) / 2 + 4, band.label, INK))
    return out


def _y_axis(low: int, high: int, y_of: _Scale) -> list[str]:
    step = next((s for s in (1, 2, 5, 10, 20, 25, 50) if (high - low) / s <= 6), 100)
    out = [_text(12, (TOP + BOTTOM) / 2, "Total", INK, rotate=True)]
    for value in range(low - low % step, high + 1, step):
        if value < low:
            continue
        y = y_of(value)
        out.append(f'<line x1="{LEFT}" y1="{y:.3f}" x2="{RIGHT}" y2="{y:.3f}" stroke="#ffffff"/>')
        out.append(_text(LEFT - 6, y + 4, str(value), INK, anchor="end"))
    return out


def _x_axis(start: datetime, end: datetime, tz: tzinfo, x_of: _TimeScale) -> list[str]:
    out = [f'<line x1="{LEFT}" y1="{BOTTOM}" x2="{RIGHT}" y2="{BOTTOM}" stroke="{INK}"/>']
    ticks = _date_ticks(start.astimezone(tz).date(), end.astimezone(tz).date())
    # Ticks on the first of months are named by month and year, day ticks by day and month.
    label = "%b %Y" if all(tick.day == 1 for tick in ticks[:2]) and len(ticks) > 1 else "%d %b"
    for tick in ticks:
        at = datetime.combine(tick, time(), tzinfo=tz)
        if not start <= at <= end:
            continue
        x = x_of(at)
        out.append(
            f'<line x1="{x:.3f}" y1="{BOTTOM}" x2="{x:.3f}" y2="{BOTTOM + 4}" stroke="{INK}"/>'
        )
        out.append(_text(x, BOTTOM + 16, tick.strftime(label), INK, anchor="middle"))
    return out


def _sessions(treatments: Sequence[datetime], x_of: _TimeScale) -> list[str]:
    """One dotted line per session; sessions closer than a pixel share one line."""
    columns = sorted({round(x_of(at), 3) for at in treatments})
    if len(columns) > (RIGHT - LEFT) // COLUMN:
        columns = sorted({round(x / COLUMN) * COLUMN for x in columns})
    out = [
        f'<line class="session" x1="{x:.3f}" y1="{TOP}" x2="{x:.3f}" y2="{BOTTOM}" '
        f'stroke="{SESSION}" stroke-width="0.8" stroke-dasharray="1.5 2.5"/>'
        for x in columns
    ]
    if columns:  # named once above the plot, so a dotted line is never a mystery
        out.append(
            f'<line x1="{RIGHT - 130}" y1="{TOP - 10}" x2="{RIGHT - 112}" y2="{TOP - 10}" '
            f'stroke="{SESSION}" stroke-dasharray="1.5 2.5"/>'
        )
        out.append(_text(RIGHT - 108, TOP - 6, "Treatment session", INK))
    return out


def _series(points: Sequence[tuple[datetime, int]], x_of: _TimeScale, y_of: _Scale) -> list[str]:
    if not points:
        return [_text((LEFT + RIGHT) / 2, (TOP + BOTTOM) / 2, "No scores yet", INK, "middle")]
    xy = list(_aggregate([(x_of(at), y_of(total)) for at, total in points]))
    path = " ".join(f"{'M' if i == 0 else 'L'} {x:.3f} {y:.3f}" for i, (x, y) in enumerate(xy))
    out = [
        f'<path class="trend" d="{path}" fill="none" stroke="{LINE}" stroke-width="2" '
        'stroke-linejoin="round"/>'
    ]
    if len(xy) <= MAX_MARKERS:
        out += [f'<circle cx="{x:.3f}" cy="{y:.3f}" r="3.5" fill="{LINE}"/>' for x, y in xy]
    last_x, last_y = xy[-1]
    out.append(
        f'<text class="latest" x="{last_x:.3f}" y="{last_y - 8:.3f}" text-anchor="middle" '
        f'font-size="12" font-weight="bold" fill="{LINE}">{points[-1][1]}</text>'
    )
    return out


def _aggregate(xy: list[tuple[float, float]]) -> Iterable[tuple[float, float]]:
    """Keep first, lowest, highest and last of each pixel column once points crowd."""
    if len(xy) <= (RIGHT - LEFT) // COLUMN:
        yield from xy
        return
    columns: dict[int, list[tuple[float, float]]] = {}
    for point in xy:  # in time order, so each column's list is too
        columns.setdefault(int(point[0] // COLUMN), []).append(point)
    for column in columns.values():
        ys = [y for _x, y in column]
        keep = {0, len(column) - 1, ys.index(min(ys)), ys.index(max(ys))}
        yield from (column[i] for i in sorted(keep))


def _time_domain(times: list[datetime]) -> tuple[datetime, datetime]:
    if not times:
        now = datetime.now().astimezone()
        return now - timedelta(days=3), now + timedelta(days=3)
    start, end = min(times), max(times)
    if end - start < timedelta(days=1):
        return start - timedelta(days=3), end + timedelta(days=3)
    margin = (end - start) * 0.04
    return start - margin, end + margin


def _date_ticks(first: date, last: date) -> list[date]:
    """Up to eight readable dates: every few days, weeks or months."""
    days = (last - first).days
    for step in (1, 2, 7, 14):
        if days / step <= 8:
            return [first + timedelta(days=n) for n in range(0, days + 1, step)]
    months = next((m for m in (1, 2, 3, 6, 12) if days / (30.4 * m) <= 7), 24)
    ticks: list[date] = []
    year, month = first.year, first.month
    while True:
        month += 1
        year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
        tick = date(year, month, 1)
        if tick > last:
            return ticks
        if (year * 12 + month - 1) % months == 0:
            ticks.append(tick)


class _Scale:
    """Maps a value range onto a pixel range (the y axis runs downwards)."""

    def __init__(self, lo: float, hi: float, out_lo: float, out_hi: float) -> None:
        self.lo, self.span = lo, hi - lo
        self.out_lo, self.out_span = out_lo, out_hi - out_lo

    def __call__(self, value: float) -> float:
        return self.out_lo + (value - self.lo) / self.span * self.out_span


class _TimeScale:
    """Maps instants onto the plot's width."""

    def __init__(self, start: datetime, end: datetime) -> None:
        self.start = start.timestamp()
        self.px_per_second = (RIGHT - LEFT) / (end.timestamp() - self.start)

    def __call__(self, at: datetime) -> float:
        return LEFT + (at.timestamp() - self.start) * self.px_per_second


def _rect(cls: str, x: float, y: float, width: float, height: float, fill: str) -> str:
    return (
        f'<rect class="{cls}" x="{x:.3f}" y="{y:.3f}" width="{width:.3f}" '
        f'height="{height:.3f}" fill="{fill}"/>'
    )


def _text(
    x: float, y: float, text: str, fill: str, anchor: str = "start", rotate: bool = False
) -> str:
    turn = f' transform="rotate(-90 {x:.3f} {y:.3f})"' if rotate else ""
    return (
        f'<text x="{x:.3f}" y="{y:.3f}" fill="{fill}" text-anchor="{anchor}"{turn}>'
        f"{escape(text)}</text>"
    )
