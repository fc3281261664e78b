"""Session summaries the clinic releases to the patient: plain words, patient-facing only.

A nurse or physician releases a *signed* treatment session's summary from the chart (and
may take it back); the portal lists released ones among the patient's documents through
`patients.hooks.PORTAL_DOCUMENTS` (registered in PortalConfig.ready), so the download goes
through the same route and audit as a superbill.

What the summary says is chosen here on purpose, never copied from the record: the date,
the protocol's name, the drug and dose as recorded, how the session went in general
words, when the patient went home, and the aftercare. Never alert texts, observation or
nurse's notes, adverse-event details, override reasons, or anything from integration or
psychotherapy notes.
"""

from __future__ import annotations

import io
from typing import Any
from xml.sax.saxutils import escape

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef

from ketaclinic.accounts.access import Actor
from ketaclinic.audit.services import record
from ketaclinic.patients.hooks import PatientDocuments, PatientFile
from ketaclinic.portal.models import SummaryRelease
from ketaclinic.portal.services import crisis_line
from ketaclinic.scheduling.services import course_protocol
from ketaclinic.treatment.models import Administration, SessionAlert, State, TreatmentSession

KIND = "session-summaries"
PORTAL_LIMIT = 100
SHOWN_ON_CHART = 10

DRUGS = {"racemic_ketamine": "Ketamine", "esketamine": "Esketamine (Spravato)"}
ROUTES = {
    "iv": "as an infusion into a vein",
    "im": "as an injection into a muscle",
    "intranasal": "as a nasal spray",
}
# The esketamine label's wording (SPRAVATO-LABEL, protocols' patient_instructions); the
# portal gives the same "no driving until the next day" advice before every treatment.
AFTERCARE = (
    "Do not drive or operate machinery until the next day, after a restful sleep.",
    "If anything worries you, call the clinic.",
)


# --------------------------------------------------------------------------- releasing


def _releasable(session: TreatmentSession) -> None:
    if not session.is_signed:
        raise ValidationError("Only a signed session's summary can be released to the patient.")


def _may_release(actor: Actor, session: TreatmentSession) -> None:
    """The nurse or physician of the session's own clinic (the views check first; so does this)."""
    actor.check("session.chart")
    if session.clinic_id != actor.clinic.pk:
        raise PermissionDenied("This session belongs to another clinic.")


def release(*, actor: Actor, session: TreatmentSession) -> SummaryRelease:
    """Show the patient this signed session's summary in the portal (idempotent)."""
    _may_release(actor, session)
    _releasable(session)
    with transaction.atomic():
        found, created = SummaryRelease.objects.get_or_create(
            session=session,
            defaults={
                "clinic_id": session.clinic_id,
                "patient_id": session.patient_id,
                "released_by": actor.user,
            },
        )
        if created:
            record(actor, "portal_summary_release", patient_id=session.patient_id, obj=session)
    return found


def withdraw(*, actor: Actor, session: TreatmentSession) -> None:
    """Take the summary back from the portal (a no-op when it was not released)."""
    _may_release(actor, session)
    with transaction.atomic():
        deleted, _ = SummaryRelease.objects.filter(
            clinic_id=session.clinic_id, session=session
        ).delete()
        if deleted:
            record(actor, "portal_summary_withdraw", patient_id=session.patient_id, obj=session)


def chart_rows(clinic_id: int, patient_id: int) -> list[dict[str, Any]]:
    """The patient's latest signed sessions, each with whether its summary is released."""
    sessions = (
        TreatmentSession.objects.filter(
            clinic_id=clinic_id, patient_id=patient_id, nurse_signed_at__isnull=False
        )
        .select_related("clinic")
        .annotate(released=Exists(SummaryRelease.objects.filter(session_id=OuterRef("pk"))))
        .order_by("-started_at")[:SHOWN_ON_CHART]
    )
    return [
        {"session": s, "date": s.clinic.date_of(s.started_at), "released": s.released}
        for s in sessions
    ]


# --------------------------------------------------------------------------- what it says


def _released(clinic_id: int, patient_id: int) -> Any:
    return (
        TreatmentSession.objects.filter(
            clinic_id=clinic_id,
            patient_id=patient_id,
            summary_release__isnull=False,
            nurse_signed_at__isnull=False,
        )
        .select_related("clinic", "patient", "course")
        .order_by("-started_at", "-pk")
    )


def _given(session: TreatmentSession) -> str:
    adm = Administration.objects.filter(session=session).first()
    drug = DRUGS.get(session.drug, session.drug.replace("_", " ").capitalize())
    how = ROUTES.get(session.route, "")
    if adm is None:
        return "No medicine was given at this session."
    mg = adm.total_given_mg if adm.total_given_mg is not None else adm.dose_mg
    return f"{drug}, {mg.normalize():f} mg, {how}.".replace(", .", ".")


def _how_it_went(session: TreatmentSession) -> str:
    if session.state == State.STOPPED:
        return "The session was stopped early. Your care team will talk it through with you."
    if not SessionAlert.objects.filter(session=session).exists():
        return (
            "Your blood pressure, heart rate and oxygen level stayed within the expected "
            "range, and the team checked on you throughout."
        )
    return (
        "Some readings were outside the expected range for a while. Your care team watched "
        "them closely until you were ready to go home."
    )


def summary_lines(session: TreatmentSession) -> list[tuple[str, str | list[str]]]:
    """The summary as (heading, text or list of lines): what the page and the PDF show."""
    clinic = session.clinic
    lines: list[tuple[str, str | list[str]]] = [
        ("Date", f"{clinic.local(session.started_at):%A %d %B %Y}"),
        ("Treatment", course_protocol(session.course).title),
        ("What you were given", _given(session)),
        ("How it went", _how_it_went(session)),
    ]
    if session.discharged_at:
        lines.append(
            ("Going home", f"You went home at {clinic.local(session.discharged_at):%H:%M}.")
        )
    crisis = crisis_line()
    lines.append(
        (
            "After your session",
            [
                *AFTERCARE,
                f"In a crisis, call or text {crisis['number']} ({crisis['name']}) "
                f"or call {crisis['emergency']}, any time.",
            ],
        )
    )
    return lines


def summary_pdf(session: TreatmentSession) -> bytes:
    """The patient's summary as a one-page PDF (every stored value escaped for ReportLab)."""
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import ListFlowable, Paragraph, SimpleDocTemplate, Spacer

    styles = getSampleStyleSheet()
    story: list[Any] = [
        Paragraph("Your treatment session", styles["Title"]),
        Paragraph(
            escape(f"{session.patient.display_name} · {session.clinic.name}"), styles["Normal"]
        ),
        Spacer(1, 12),
    ]
    for heading, text in summary_lines(session):
        story.append(Paragraph(escape(heading), styles["Heading3"]))
        if isinstance(text, list):
            story.append(
                ListFlowable(
                    [Paragraph(escape(t), styles["Normal"]) for t in text], bulletType="bullet"
                )
            )
        else:
            story.append(Paragraph(escape(text), styles["Normal"]))
    buffer = io.BytesIO()
    SimpleDocTemplate(buffer, pagesize=letter, title="Session summary").build(story)
    return buffer.getvalue()


# --------------------------------------------------------------------------- the portal's hook


def summary_rows(clinic_id: int, patient_id: int) -> list[dict[str, Any]]:
    return [
        {
            "id": s.pk,
            "title": "Session summary",
            "date": s.clinic.date_of(s.started_at),
            "note": "Treatment session",
        }
        for s in _released(clinic_id, patient_id)[:PORTAL_LIMIT]
    ]


def summary_file(clinic_id: int, patient_id: int, session_id: int) -> PatientFile | None:
    session = _released(clinic_id, patient_id).filter(pk=session_id).first()
    if session is None:
        return None
    return PatientFile(
        filename=f"session-summary-{session.pk}.pdf", content=summary_pdf(session), obj=session
    )


SESSION_SUMMARIES = PatientDocuments(rows=summary_rows, open=summary_file)


def chart_section(actor: Actor, patient: Any, allowed: frozenset[str]) -> dict[str, Any] | None:
    """The chart's portal section: signed sessions and their release, for who may chart them."""
    if "session.chart" not in allowed:
        return None
    return {"summaries": chart_rows(patient.clinic_id, patient.pk)}
