"""A report as a PDF (the Form 3500 fields or the REMS summary sheet)."""

from __future__ import annotations

import io
from typing import Any
from xml.sax.saxutils import escape

from ketaclinic.treatment.models import (
    AdverseEventReport,
)

from .content import (
    _person,
    missing,
    prefilled,
)
from .forms import MEDWATCH_FORM, REMS_AE_PHONE, REMS_FAX, REMS_FORM

# --- the PDF ------------------------------------------------------------------------------------


def as_pdf(report: AdverseEventReport) -> bytes:
    """The report as a PDF (Letter): the form's sections with the record's values."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import (
        KeepTogether,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    styles = getSampleStyleSheet()
    medwatch = report.kind == AdverseEventReport.Kind.MEDWATCH
    title = (
        "MedWatch Form FDA 3500 — voluntary adverse event report (pre-filled)"
        if medwatch
        else "SPRAVATO® REMS — suspected adverse event report"
    )
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=letter,
        title=title,
        leftMargin=48,
        rightMargin=48,
        topMargin=42,
        bottomMargin=42,
    )
    status = {
        "due": "DUE — not yet reviewed by a clinician",
        "drafted": "DRAFT — reviewed, not yet submitted",
        "submitted": f"Submitted {report.submitted_on} by {_person(report.submitted_by)}"
        + (f" (reference {report.reference})" if report.reference else ""),
    }[report.status]
    story: list[Any] = [
        Paragraph(escape(title), styles["Title"]),
        Paragraph(
            escape(
                f"{MEDWATCH_FORM if medwatch else REMS_FORM} · report {report.pk} · "
                f"adverse event {report.event_id} · session {report.event.session_id} · {status}"
            ),
            styles["Normal"],
        ),
        Spacer(1, 10),
    ]
    body = styles["BodyText"]
    for heading, rows in prefilled(report):
        title_row = Paragraph(escape(heading), styles["Heading3"])
        table = Table(
            [
                [
                    Paragraph(escape(label), body),
                    Paragraph(escape(value).replace("\n", "<br/>") if value else "—", body),
                ]
                for _key, label, value in rows
            ],
            colWidths=[170, 346],
        )
        table.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                    ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f2f4f7")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        story.append(KeepTogether([title_row, table]))  # never a heading alone at a page foot
    gaps = missing(report)
    story.append(Spacer(1, 10))
    if gaps:
        story.append(
            Paragraph(escape("Still missing: " + ", ".join(g["label"] for g in gaps) + "."), body)
        )
    note = (
        "Submit online at www.fda.gov/medwatch or on Form FDA 3500 as the FDA directs. "
        "Prepared from the clinic record by ketaclinic."
        if medwatch
        else f"Report to the SPRAVATO REMS by phone {REMS_AE_PHONE} or fax {REMS_FAX}. "
        "Prepared from the clinic record by ketaclinic."
    )
    story.append(Paragraph(escape(note), styles["Italic"]))
    doc.build(story)
    return buffer.getvalue()
