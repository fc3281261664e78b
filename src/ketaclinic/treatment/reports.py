"""The session summary for the record: a PDF with dose, timeline, vitals chart, events, discharge."""

from __future__ import annotations

import io
import threading
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates  # noqa: E402
from django.utils import timezone  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ketaclinic.treatment import presenters  # noqa: E402
from ketaclinic.treatment.models import TreatmentSession  # noqa: E402

_lock = threading.Lock()  # matplotlib's text layout is not thread-safe


def vitals_chart_svg(session: TreatmentSession, *, width: float = 6.4, height: float = 2.6) -> str:
    """An SVG of systolic/diastolic BP and heart rate over the session (clinic time)."""
    return _chart(session, "svg", width, height).decode()


def vitals_chart_png(
    session: TreatmentSession, *, width: float = 6.4, height: float = 2.6
) -> bytes:
    return _chart(session, "png", width, height)


def _chart(session: TreatmentSession, fmt: str, width: float, height: float) -> bytes:
    readings = getattr(session, "reading_rows", None)
    if readings is None:
        readings = list(session.readings.all())
    tz = timezone.get_current_timezone()
    fig = Figure(figsize=(width, height), dpi=110)
    ax = fig.add_subplot(1, 1, 1)
    times = [r.taken_at.astimezone(tz) for r in readings]
    for label, values, style in (
        ("Systolic", [r.systolic for r in readings], "-o"),
        ("Diastolic", [r.diastolic for r in readings], "-s"),
        ("Heart rate", [r.heart_rate for r in readings], "--^"),
    ):
        points = [(t, v) for t, v in zip(times, values, strict=True) if v is not None]
        if points:
            ax.plot(
                [p[0] for p in points], [p[1] for p in points], style, label=label, markersize=3
            )
    ax.axhline(180, color="#b42318", linewidth=0.8, linestyle=":")
    ax.text(
        0.005,
        181,
        "Systolic alert 180",
        transform=ax.get_yaxis_transform(),
        fontsize=7,
        color="#b42318",
    )
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=tz))
    ax.set_ylabel("mmHg · /min")
    ax.set_ylim(30, 220)
    ax.grid(True, linewidth=0.3)
    if readings:
        ax.legend(loc="upper right", fontsize=7, frameon=False)
    fig.tight_layout()
    buffer = io.BytesIO()
    with _lock:
        fig.savefig(buffer, format=fmt)
    return buffer.getvalue()


def _t(value: Any) -> str:
    if not value:
        return "—"
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")


def summary_pdf(session: TreatmentSession) -> bytes:
    """The session summary PDF (one call; the caller audits the read)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    data = presenters.detail(session)
    styles = getSampleStyleSheet()
    body = styles["BodyText"]
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=letter, title=f"Treatment session {session.pk}")
    patient = session.patient
    grid = TableStyle(
        [
            ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("FONTSIZE", (0, 0), (-1, -1), 8),
        ]
    )
    story: list[Any] = [
        Paragraph(f"Treatment session {session.pk}", styles["Title"]),
        Paragraph(
            f"{patient.given_name} {patient.family_name} · MRN {patient.mrn} · born "
            f"{patient.birth_date:%Y-%m-%d} · {session.clinic.name} · {session.room.name}",
            body,
        ),
        Paragraph(
            f"Protocol {session.protocol_code} v{session.protocol_version} · state "
            f"{session.get_state_display()} · started {_t(session.started_at)}",
            body,
        ),
    ]
    if data["overrides"]:
        story.append(Spacer(1, 6))
        story.append(Paragraph("<b>Overrides (physician)</b>", body))
        for o in data["overrides"]:
            story.append(Paragraph(f"⚑ {o['kind']} {o['item']}: {o['reason']} ({o['by']})", body))
    adm = data["administration"]
    story += [Spacer(1, 8), Paragraph("<b>Dose</b>", styles["Heading3"])]
    if adm:
        story.append(
            Paragraph(
                f"{adm['product']} lot {adm['lot_number']} · {adm['route']} · dose {adm['dose_mg']} mg"
                + (
                    f" ({adm['dose_mg_per_kg']} mg/kg on {adm['weight_used_kg']} kg)"
                    if adm["dose_mg_per_kg"]
                    else ""
                )
                + f" · total given {adm['total_given_mg'] or '—'} mg · drawn {adm['drawn']} / given "
                f"{adm['given']} / left over {adm['left_over']} {adm['unit']}",
                body,
            )
        )
        for d in data["devices"]:
            story.append(
                Paragraph(
                    f"Device {d['number']}: {d['mg']} mg at {_t(session.device_rows[d['number'] - 1].given_at)}",
                    body,
                )
            )
    else:
        story.append(Paragraph("No dose given.", body))
    story += [Spacer(1, 8), Paragraph("<b>Vital signs</b>", styles["Heading3"])]
    story.append(Image(io.BytesIO(vitals_chart_png(session)), width=460, height=187))
    rows = [["Time", "BP", "HR", "SpO2", "RR", "Temp", "Alerts"]]
    for reading in session.reading_rows:
        alerts = ", ".join(
            f"{a.code} ({a.level})" for a in session.alert_rows if a.reading_id == reading.pk
        )
        rows.append(
            [
                _t(reading.taken_at),
                reading.bp,
                reading.heart_rate or "—",
                reading.spo2 or "—",
                reading.respiratory_rate or "—",
                reading.temperature_c or "—",
                alerts,
            ]
        )
    table = Table(rows, repeatRows=1)
    table.setStyle(grid)
    story.append(table)
    if session.observation_rows:
        story += [Spacer(1, 8), Paragraph("<b>Observations</b>", styles["Heading3"])]
        for o in session.observation_rows:
            story.append(Paragraph(f"{_t(o.taken_at)} {o.get_kind_display()}: {o.display}", body))
    if session.adverse_rows:
        story += [Spacer(1, 8), Paragraph("<b>Adverse events</b>", styles["Heading3"])]
        for e in session.adverse_rows:
            story.append(
                Paragraph(
                    f"{_t(e.onset_at)} {e.get_type_display()} ({e.severity}{', serious' if e.serious else ''}); "
                    f"interventions: {', '.join(e.interventions) or 'none'}; outcome {e.get_outcome_display()}",
                    body,
                )
            )
    story += [Spacer(1, 8), Paragraph("<b>Timeline</b>", styles["Heading3"])]
    for e in session.event_rows:
        story.append(Paragraph(f"{_t(e.at)} {e.text or e.to_state}", body))
    story += [Spacer(1, 8), Paragraph("<b>Discharge</b>", styles["Heading3"])]
    story.append(
        Paragraph(
            f"Discharged {_t(session.discharged_at)} · could have left at {_t(session.could_have_left_at)}"
            + (f" · stopped: {session.stop_reason}" if session.stop_reason else ""),
            body,
        )
    )
    story.append(
        Paragraph(
            f"Signed by the nurse {_t(session.nurse_signed_at)} · co-signed by the physician "
            f"{_t(session.physician_signed_at)}",
            body,
        )
    )
    for a in session.amendment_rows:
        story.append(
            Paragraph(
                f"Amendment {_t(a.at)}: {a.target} {a.field} {a.old_value or '—'} → {a.new_value} ({a.reason})",
                body,
            )
        )
    doc.build(story)
    return buffer.getvalue()
