"""The session summary for the record: a PDF with dose, timeline, vitals chart, events, discharge."""

from __future__ import annotations

import io
import threading
from typing import Any
from xml.sax.saxutils import escape

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
    tz = session.clinic.tz
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


def _t(value: Any, tz: Any = None) -> str:
    if not value:
        return "—"
    return timezone.localtime(value, tz).strftime("%Y-%m-%d %H:%M")


def _e(value: Any) -> str:
    """Text for a ReportLab Paragraph: its markup characters escaped ("pain<br>3" stays text)."""
    return escape("—" if value is None else str(value))


def summary_pdf(session: TreatmentSession) -> bytes:
    """The session summary PDF (one call; the caller audits the read)."""
    from reportlab.lib.pagesizes import letter
    from reportlab.platypus import SimpleDocTemplate

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=letter, title=f"Treatment session {session.pk}")
    doc.build(summary_story(session))
    return buffer.getvalue()


def summary_story(session: TreatmentSession) -> list[Any]:
    """The summary's flowables: every typed or stored value escaped for Paragraph markup."""
    from reportlab.lib import colors
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Image, Paragraph, Spacer, Table, TableStyle

    data = presenters.detail(session)
    styles = getSampleStyleSheet()
    body = styles["BodyText"]
    patient = session.patient
    tz = session.clinic.tz

    def t(value: Any) -> str:
        return _t(value, tz)

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
            f"{_e(patient.given_name)} {_e(patient.family_name)} · MRN {_e(patient.mrn)} · born "
            f"{patient.birth_date:%Y-%m-%d} · {_e(session.clinic.name)} · {_e(session.room.name)}",
            body,
        ),
        Paragraph(
            f"Protocol {_e(session.protocol_code)} v{session.protocol_version} · state "
            f"{_e(session.get_state_display())} · started {t(session.started_at)}",
            body,
        ),
    ]
    if data["overrides"] or data["checklist_changes"]:
        story.append(Spacer(1, 6))
        story.append(Paragraph("<b>Overrides (physician) and checklist changes</b>", body))
        for o in data["overrides"]:
            story.append(
                Paragraph(
                    f"⚑ {_e(o['kind'])} {_e(o['item'])}: {_e(o['reason'])} ({_e(o['by'])})", body
                )
            )
        for e in session.event_rows:
            if e.kind in presenters.CHECKLIST_CHANGE_KINDS:
                who = e.by.get_full_name() or e.by.username
                story.append(Paragraph(f"⚑ {t(e.at)} {_e(e.text)} ({_e(who)})", body))
    adm = data["administration"]
    story += [Spacer(1, 8), Paragraph("<b>Dose</b>", styles["Heading3"])]
    if adm:
        story.append(
            Paragraph(
                f"{_e(adm['product'])} lot {_e(adm['lot_number'])} · {_e(adm['route'])} · dose "
                f"{_e(adm['dose_mg'])} mg"
                + (
                    f" ({_e(adm['dose_mg_per_kg'])} mg/kg on {_e(adm['weight_used_kg'])} kg)"
                    if adm["dose_mg_per_kg"]
                    else ""
                )
                + f" · total given {_e(adm['total_given_mg'])} mg · drawn {_e(adm['drawn'])} / "
                f"given {_e(adm['given'])} / left over {_e(adm['left_over'])} {_e(adm['unit'])}",
                body,
            )
        )
        for device in session.device_rows:
            story.append(
                Paragraph(
                    f"Device {device.number}: {_e(device.mg)} mg at {t(device.given_at)}", body
                )
            )
    else:
        story.append(Paragraph("No dose given.", body))
    story += [Spacer(1, 8), Paragraph("<b>Vital signs</b>", styles["Heading3"])]
    story.append(Image(io.BytesIO(vitals_chart_png(session)), width=460, height=187))
    rows: list[list[Any]] = [["Time", "BP", "HR", "SpO2", "RR", "Temp", "Alerts"]]
    for reading in session.reading_rows:
        alerts = ", ".join(
            f"{a.code} ({a.level})" for a in session.alert_rows if a.reading_id == reading.pk
        )
        rows.append(
            [
                t(reading.taken_at),
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
            story.append(
                Paragraph(f"{t(o.taken_at)} {_e(o.get_kind_display())}: {_e(o.display)}", body)
            )
    if session.adverse_rows:
        story += [Spacer(1, 8), Paragraph("<b>Adverse events</b>", styles["Heading3"])]
        for ae in session.adverse_rows:
            story.append(
                Paragraph(
                    f"{t(ae.onset_at)} {_e(ae.get_type_display())} ({_e(ae.severity)}"
                    f"{', serious' if ae.serious else ''}); interventions: "
                    f"{_e(', '.join(ae.interventions) or 'none')}"
                    + (f" ({_e(ae.drug_given)})" if ae.drug_given else "")
                    + f"; outcome {_e(ae.get_outcome_display())}"
                    + (f". {_e(ae.note)}" if ae.note else ""),
                    body,
                )
            )
    story += [Spacer(1, 8), Paragraph("<b>Timeline</b>", styles["Heading3"])]
    for e in session.event_rows:
        story.append(Paragraph(f"{t(e.at)} {_e(e.text or e.to_state)}", body))
    story += [Spacer(1, 8), Paragraph("<b>Discharge</b>", styles["Heading3"])]
    story.append(
        Paragraph(
            f"Discharged {t(session.discharged_at)} · could have left at "
            f"{t(session.could_have_left_at)}"
            + (f" · stopped: {_e(session.stop_reason)}" if session.stop_reason else ""),
            body,
        )
    )
    story.append(
        Paragraph(
            f"Signed by the nurse {t(session.nurse_signed_at)} · co-signed by the physician "
            f"{t(session.physician_signed_at)}",
            body,
        )
    )
    for a in session.amendment_rows:
        story.append(
            Paragraph(
                f"Amendment {t(a.at)}: {_e(a.target)} {_e(a.field)} {_e(a.old_value or '—')} → "
                f"{_e(a.new_value)} ({_e(a.reason)})",
                body,
            )
        )
    return story
