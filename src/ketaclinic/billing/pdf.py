"""Superbill and statement PDFs (reportlab); the caller checks permission and audits the read.

A superbill is what a self-pay patient sends to their insurer for out-of-network
reimbursement: the clinic (billing NPI, TIN), the rendering provider's NPI, the patient,
the diagnoses (ICD-10-CM), each service with its code, modifiers, units and charge, and
what was paid. Only approved lines appear: a proposed line is not yet a charge.
"""

from __future__ import annotations

import io
from collections.abc import Collection
from datetime import date
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from ketaclinic.billing.models import BillingProfile, Charge, ChargeStatus, Payment, ProviderNumber
from ketaclinic.billing.services import balance_of, charge_paid
from ketaclinic.patients.models import Patient


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def _money(value: Decimal | None) -> str:
    return f"${(value or Decimal(0)):,.2f}"


def superbill_charges(
    patient: Patient,
    start: date | None,
    end: date | None,
    appointment_id: int | None = None,
    appointment_ids: Collection[int] | None = None,
) -> list[Charge]:
    rows = Charge.objects.filter(
        clinic_id=patient.clinic_id, patient=patient, status=ChargeStatus.APPROVED
    ).select_related("provider__user")
    if appointment_id is not None:
        rows = rows.filter(appointment_id=appointment_id)
    if appointment_ids is not None:
        rows = rows.filter(appointment_id__in=appointment_ids)
    if start:
        rows = rows.filter(service_date__gte=start)
    if end:
        rows = rows.filter(service_date__lte=end)
    return list(rows.order_by("service_date", "position", "pk"))


def _build(title: str, story: list[Any]) -> bytes:
    from reportlab.lib.pagesizes import letter
    from reportlab.platypus import SimpleDocTemplate

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=letter, title=title, leftMargin=48, rightMargin=48)
    doc.build(story)
    return buffer.getvalue()


def _grid() -> Any:
    from reportlab.lib import colors
    from reportlab.platypus import TableStyle

    return TableStyle(
        [
            ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("FONTSIZE", (0, 0), (-1, -1), 8),
        ]
    )


def _header(patient: Patient, title: str) -> list[Any]:
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph

    styles = getSampleStyleSheet()
    body = styles["BodyText"]
    profile = BillingProfile.objects.filter(clinic_id=patient.clinic_id).first()
    story: list[Any] = [Paragraph(_e(title), styles["Title"])]
    if profile is not None:
        story.append(
            Paragraph(
                f"<b>{_e(profile.legal_name)}</b> · {_e(profile.address_line)}, {_e(profile.city)}, "
                f"{_e(profile.state)} {_e(profile.zip_code)} · {_e(profile.phone)}<br/>"
                f"Billing NPI {_e(profile.npi)} · TIN {_e(profile.tin)} · taxonomy "
                f"{_e(profile.taxonomy)} · place of service {_e(profile.place_of_service)}",
                body,
            )
        )
    else:
        story.append(Paragraph(_e(patient.clinic.name), body))
    story.append(
        Paragraph(
            f"<b>Patient</b>: {_e(patient.given_name)} {_e(patient.family_name)} · born "
            f"{patient.birth_date:%m/%d/%Y} · account {_e(patient.mrn)}<br/>{_e(patient.address)}",
            body,
        )
    )
    return story


def superbill_pdf(
    patient: Patient,
    start: date | None = None,
    end: date | None = None,
    appointment_id: int | None = None,
    appointment_ids: Collection[int] | None = None,
) -> bytes:
    """The superbill of a date range, or of one visit (`appointment_id`), optionally of
    the given visits only (the portal's: visits whose review is finished)."""
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, Spacer, Table

    styles = getSampleStyleSheet()
    body = styles["BodyText"]
    charges = superbill_charges(patient, start, end, appointment_id, appointment_ids)
    span = (
        f"{start or (charges[0].service_date if charges else '')} to "
        f"{end or (charges[-1].service_date if charges else '')}"
    )
    story = _header(patient, "Superbill")
    story.append(Paragraph(f"Services from {_e(span)}", body))
    diagnoses: list[str] = []
    for charge in charges:
        for code in charge.diagnoses:
            if code not in diagnoses:
                diagnoses.append(code)
    story.append(Spacer(1, 6))
    story.append(
        Paragraph(
            "<b>Diagnoses (ICD-10-CM)</b>: "
            + (", ".join(f"{i}. {_e(c)}" for i, c in enumerate(diagnoses, 1)) or "none coded"),
            body,
        )
    )
    npis = {
        p.membership_id: p.npi for p in ProviderNumber.objects.filter(clinic_id=patient.clinic_id)
    }
    rows: list[list[str]] = [
        ["Date", "Code", "Modifiers", "Units", "Dx", "NDC", "Provider (NPI)", "Charge", "Paid"]
    ]
    total = paid_total = Decimal(0)
    for charge in charges:
        paid = charge_paid(charge)
        total += charge.price or 0
        paid_total += paid
        provider = ""
        if charge.provider is not None:
            user = charge.provider.user
            provider = f"{user.get_full_name()} ({npis.get(charge.provider.pk, '—')})"
        pointers = ",".join(
            str(diagnoses.index(charge.diagnoses[p - 1]) + 1)
            for p in charge.diagnosis_pointers
            if 0 < p <= len(charge.diagnoses)
        )
        rows.append(
            [
                f"{charge.service_date:%m/%d/%Y}",
                charge.code,
                " ".join(charge.modifiers),
                f"{charge.units.normalize():f}",
                pointers,
                charge.ndc,
                provider,
                _money(charge.price),
                _money(paid),
            ]
        )
    rows.append(["", "", "", "", "", "", "Total", _money(total), _money(paid_total)])
    story.append(Spacer(1, 6))
    table = Table(rows, repeatRows=1)
    table.setStyle(_grid())
    story.append(table)
    story.append(Spacer(1, 8))
    story.append(
        Paragraph(
            f"Amount paid {_money(paid_total)} · balance {_money(total - paid_total)}. "
            f"Issued {patient.clinic.today():%m/%d/%Y}.",
            body,
        )
    )
    return _build("Superbill", story)


def statement_pdf(patient: Patient) -> bytes:
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, Spacer, Table

    styles = getSampleStyleSheet()
    body = styles["BodyText"]
    story = _header(patient, "Statement")
    rows: list[list[str]] = [["Date", "Description", "Charges", "Payments"]]
    entries: list[tuple[date, int, list[str]]] = []
    for charge in superbill_charges(patient, None, None):
        entries.append(
            (
                charge.service_date,
                0,
                [
                    f"{charge.service_date:%m/%d/%Y}",
                    f"{charge.code} x {charge.units.normalize():f}",
                    _money(charge.price),
                    "",
                ],
            )
        )
    for payment in Payment.objects.filter(clinic_id=patient.clinic_id, patient=patient):
        who = "Payment, thank you" if payment.source == "patient" else f"Paid by {payment.payer}"
        entries.append(
            (
                payment.received_on,
                1,
                [
                    f"{payment.received_on:%m/%d/%Y}",
                    f"{who} ({payment.method})",
                    "",
                    _money(payment.amount + payment.adjustment),
                ],
            )
        )
    for _d, _k, row in sorted(entries, key=lambda e: (e[0], e[1])):
        rows.append(row)
    table = Table(rows, repeatRows=1)
    table.setStyle(_grid())
    story += [Spacer(1, 6), table, Spacer(1, 8)]
    balance = balance_of(patient.clinic, patient.pk)
    story.append(Paragraph(f"<b>Balance due {_money(balance.balance)}</b>", body))
    return _build("Statement", story)
