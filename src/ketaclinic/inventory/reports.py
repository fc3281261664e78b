"""The inspector's reports: receipts, administrations, disposals, counts, expiring lots.

Each report is a title, column headings and rows of strings, written as CSV or as a
PDF drawn straight onto the reportlab canvas (a table layout engine is far too slow
for 50,000 rows; see bench/ledger_report.py).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.utils import timezone

from ketaclinic.accounts.models import Clinic
from ketaclinic.inventory import services
from ketaclinic.inventory.models import CountLine, Kind

REPORTS = ("receipts", "administrations", "disposals", "counts", "ledger", "expiring")


@dataclass
class Report:
    title: str
    columns: list[str]
    widths: list[int]  # PDF column widths in points
    rows: Iterator[list[str]]
    subtitle: str = ""


def _q(value: Decimal | None) -> str:
    if value is None:
        return ""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


FIELDS = (
    "id",
    "occurred_at",
    "kind",
    "product__name",
    "product__ndc",
    "product__unit",
    "lot__number",
    "lot__expiry",
    "location__name",
    "quantity",
    "delta",
    "mg",
    "balance_after",
    "recorded_by_id",
    "witness_id",
    "witnessed_at",
    "patient__mrn",
    "patient__given_name",
    "patient__family_name",
    "patient__address",
    "session_ref",
    "manner",
    "reason",
    "supplier_name",
    "supplier_address",
    "supplier_dea_number",
    "invoice",
    "containers",
    "corrects_id",
)
KIND_LABELS = dict(Kind.choices)


class _Names(dict):
    """User id -> "Full Name (username)", fetched once per report."""

    def __missing__(self, user_id: int | None) -> str:
        if user_id is None:
            return ""
        from ketaclinic.accounts.models import User

        user = User.objects.filter(pk=user_id).first()
        name = user.get_full_name() if user else ""
        self[user_id] = (
            f"{name} ({user.username})" if user and name else (user.username if user else "")
        )
        return self[user_id]


def _clock(clinic: Clinic):
    tz = clinic.tz

    def when(value) -> str:
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if value else ""

    return when


def _entries(clinic: Clinic, kinds, **filters):
    """Plain rows (dicts) of the ledger: one joined query streamed, no model instances."""
    query = services.ledger_entries(clinic, kinds=kinds, **filters).select_related(None)
    return query.values(*FIELDS).iterator(chunk_size=5000)


def _mg(e) -> str:
    return _q(e["mg"])


def _patient_name(e) -> str:
    return " ".join(x for x in (e["patient__given_name"], e["patient__family_name"]) if x)


def _one_line(text: str | None) -> str:
    """A stored multi-line address on one line: "1 Main St, Portland, ME"."""
    return ", ".join(part.strip() for part in (text or "").splitlines() if part.strip())


@dataclass
class _Ask:
    """What a report was asked for, and the per-report helpers its rows share."""

    filters: dict[str, Any]
    names: _Names
    when: Callable[[Any], str]
    period: str
    product: int | None
    lot: int | None
    start: date | None
    end: date | None
    today: date | None


def _receipts(clinic: Clinic, ask: _Ask) -> Report:
    """Stock received, with the supplier (the DEA's receiving record)."""
    filters, names, when, period = ask.filters, ask.names, ask.when, ask.period
    return Report(
        "Receipts",
        [
            "Received",
            "Product",
            "NDC",
            "Lot",
            "Expiry",
            "Containers",
            "Quantity",
            "mg",
            "Supplier",
            "Supplier address",
            "Supplier DEA",
            "Invoice",
            "Received by",
        ],
        [62, 110, 58, 44, 50, 34, 40, 42, 80, 100, 52, 48, 70],
        (
            [
                when(e["occurred_at"]),
                e["product__name"],
                e["product__ndc"],
                e["lot__number"],
                f"{e['lot__expiry']:%Y-%m-%d}",
                str(e["containers"] or ""),
                f"{_q(e['delta'])} {e['product__unit']}",
                _mg(e) if e["delta"] > 0 else _q(-e["mg"]),
                e["supplier_name"],
                e["supplier_address"],
                e["supplier_dea_number"],
                e["invoice"],
                names[e["recorded_by_id"]],
            ]
            for e in _entries(clinic, [Kind.RECEIVE], **filters)
        ),
        period,
    )


def _administrations(clinic: Clinic, ask: _Ask) -> Report:
    """Doses given, with the patient's name and address."""
    filters, names, when, period = ask.filters, ask.names, ask.when, ask.period
    return Report(
        "Administrations",
        # 21 CFR 1304.22(c): the name and address of the person the drug was given to.
        [
            "Given",
            "Patient MRN",
            "Patient",
            "Patient address",
            "Session",
            "Product",
            "Lot",
            "Quantity",
            "mg",
            "Given by",
            "Note",
        ],
        [62, 56, 80, 130, 40, 110, 44, 46, 40, 90, 100],
        (
            [
                when(e["occurred_at"]),
                e["patient__mrn"] or "",
                _patient_name(e),
                _one_line(e["patient__address"]),
                e["session_ref"],
                e["product__name"],
                e["lot__number"],
                f"{_q(-e['delta'])} {e['product__unit']}",
                _mg(e) if e["delta"] < 0 else _q(-e["mg"]),
                names[e["recorded_by_id"]],
                f"reverses #{e['corrects_id']}: {e['reason']}" if e["corrects_id"] else "",
            ]
            for e in _entries(clinic, [Kind.ADMINISTER], **filters)
        ),
        period,
    )


def _disposals(clinic: Clinic, ask: _Ask) -> Report:
    """Waste, destruction and returns."""
    filters, names, when, period = ask.filters, ask.names, ask.when, ask.period
    return Report(
        "Disposals: waste, destruction, return",
        [
            "Date",
            "Kind",
            "Product",
            "Lot",
            "Quantity",
            "mg",
            "Manner",
            "Patient MRN",
            "Recorded by",
            "Witness",
            "Witnessed",
        ],
        [62, 50, 120, 46, 52, 46, 120, 62, 90, 90, 62],
        (
            [
                when(e["occurred_at"]),
                KIND_LABELS[e["kind"]],
                e["product__name"],
                e["lot__number"],
                f"{_q(-e['delta'])} {e['product__unit']}",
                _mg(e) if e["delta"] < 0 else _q(-e["mg"]),
                e["manner"],
                e["patient__mrn"] or "",
                names[e["recorded_by_id"]],
                names[e["witness_id"]] if e["witness_id"] else "AWAITING WITNESS",
                when(e["witnessed_at"]),
            ]
            for e in _entries(clinic, [Kind.WASTE, Kind.DESTROY, Kind.RETURN], **filters)
        ),
        period,
    )


def _ledger(clinic: Clinic, ask: _Ask) -> Report:
    """Every ledger entry in order, with the running balance."""
    filters, names, when, period = ask.filters, ask.names, ask.when, ask.period
    return Report(
        "Controlled-substance ledger",
        [
            "#",
            "Date",
            "Kind",
            "Product",
            "Lot",
            "Location",
            "Change",
            "mg",
            "Balance",
            "By",
            "Witness",
            "Patient MRN",
            "Detail",
        ],
        [34, 62, 56, 110, 44, 60, 46, 46, 46, 80, 80, 56, 100],
        (
            [
                str(e["id"]),
                when(e["occurred_at"]),
                KIND_LABELS[e["kind"]],
                e["product__name"],
                e["lot__number"],
                e["location__name"],
                f"{_q(e['delta'])} {e['product__unit']}",
                _mg(e) if e["delta"] > 0 else _q(-e["mg"]),
                _q(e["balance_after"]),
                names[e["recorded_by_id"]],
                names[e["witness_id"]],
                e["patient__mrn"] or "",
                " ".join(
                    x
                    for x in [
                        e["manner"],
                        e["reason"],
                        e["supplier_name"],
                        f"corrects #{e['corrects_id']}" if e["corrects_id"] else "",
                    ]
                    if x
                ),
            ]
            for e in _entries(clinic, None, **filters)
        ),
        period,
    )


def _counts(clinic: Clinic, ask: _Ask) -> Report:
    """Inventory counts, line by line, with their discrepancies and resolutions."""
    names, when, period, product, lot = ask.names, ask.when, ask.period, ask.product, ask.lot
    start, end = ask.start, ask.end
    lines = CountLine.objects.filter(session__clinic=clinic).select_related(
        "session__location", "session__counted_by", "lot__product", "resolved_by"
    )
    if product:
        lines = lines.filter(lot__product_id=product)
    if lot:
        lines = lines.filter(lot_id=lot)
    # Whole days in the clinic's time zone (a `__date` lookup would take the UTC date).
    lower, upper = clinic.day_span(start, end)
    if lower:
        lines = lines.filter(session__counted_at__gte=lower)
    if upper:
        lines = lines.filter(session__counted_at__lt=upper)
    return Report(
        "Inventories and counts",
        [
            "Counted",
            "Kind",
            "Timing",
            "Location",
            "Product",
            "Strength",
            "Per container",
            "Lot",
            "Counted",
            "Sealed",
            "Estimated",
            "Ledger",
            "Difference",
            "Counted by",
            "Resolved by",
        ],
        [62, 62, 60, 60, 100, 44, 44, 44, 44, 34, 40, 44, 44, 80, 50],
        (
            [
                when(ln.session.counted_at),
                ln.session.get_kind_display(),
                ln.session.get_timing_display(),
                ln.session.location.name,
                ln.lot.product.name,
                ln.lot.product.strength,
                f"{_q(ln.lot.product.units_per_container)} {ln.lot.product.unit}",
                ln.lot.number,
                f"{_q(ln.counted)} {ln.lot.product.unit}",
                "" if ln.sealed_containers is None else str(ln.sealed_containers),
                "yes" if ln.estimated else "no",
                _q(ln.ledger_balance),
                _q(ln.discrepancy),
                names[ln.session.counted_by_id],
                f"#{ln.resolved_by_id} {ln.resolved_by.kind}" if ln.resolved_by else "",
            ]
            for ln in lines.order_by("session__counted_at", "id").iterator(chunk_size=2000)
        ),
        period,
    )


def _expiring(clinic: Clinic, ask: _Ask) -> Report:
    """Lots expiring in the next 60 days, as of `today`."""
    today = ask.today or clinic.today()
    return Report(
        "Lots expiring in the next 60 days",
        ["Expiry", "Product", "NDC", "Lot", "Location", "On hand", "mg"],
        [70, 200, 80, 70, 110, 80, 80],
        (
            [
                f"{b.lot.expiry:%Y-%m-%d}",
                b.product.name,
                b.product.ndc,
                b.lot.number,
                b.location.name,
                f"{_q(b.quantity)} {b.product.unit}",
                _q(b.mg),
            ]
            for b in sorted(services.expiring_lots(clinic, today), key=lambda b: b.lot.expiry)
        ),
        f"as of {today}",
    )


_BUILDERS = {
    "receipts": _receipts,
    "administrations": _administrations,
    "disposals": _disposals,
    "ledger": _ledger,
    "counts": _counts,
    "expiring": _expiring,
}


def build(
    kind: str,
    clinic: Clinic,
    *,
    product: int | None = None,
    lot: int | None = None,
    start: date | None = None,
    end: date | None = None,
    today: date | None = None,
) -> Report:
    """The report `kind` for the clinic and period (whole days in the clinic's time zone)."""
    if kind not in _BUILDERS:
        raise ValueError(kind)
    ask = _Ask(
        filters={"product": product, "lot": lot, "start": start, "end": end},
        names=_Names(),
        when=_clock(clinic),
        period=f"{start or 'first entry'} to {end or 'today'}",
        product=product,
        lot=lot,
        start=start,
        end=end,
        today=today,
    )
    return _BUILDERS[kind](clinic, ask)


def write_csv(report: Report, out: io.StringIO | None = None) -> str:
    """The report as CSV text (a heading row, then the rows)."""
    out = out or io.StringIO()
    writer = csv.writer(out)
    writer.writerow(report.columns)
    count = 0
    for row in report.rows:
        writer.writerow([csv_safe(c) for c in row])
        count += 1
    return out.getvalue()


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV
# injection"); a tab or carriage return in front hides the formula from a naive check.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")


def csv_safe(cell: str) -> str:
    """The cell as a spreadsheet shows it as text: quoted with ' when it could be a formula.

    Only a cell that is a plain number as a whole ("-0.5") is left as it is; anything
    else that starts like a formula ("-1 +cmd|...", "-9.3 mL") is quoted.
    """
    if cell.startswith(FORMULA_START) and not PLAIN_NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def write_pdf(report: Report, clinic: Clinic, by: str) -> bytes:
    """The report as a landscape letter PDF with a header on each page and numbered pages."""
    from reportlab.lib.pagesizes import landscape, letter
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    width, height = landscape(letter)
    pdf = canvas.Canvas(buffer, pagesize=(width, height), pageCompression=1)
    pdf.setTitle(f"{clinic.name} — {report.title}")
    margin, line_height, font, size = 28, 11, "Helvetica", 6.5
    scale = min(1.0, (width - 2 * margin) / sum(report.widths))
    widths = [w * scale for w in report.widths]
    printed = timezone.localtime(timezone.now(), clinic.tz).strftime("%Y-%m-%d %H:%M %Z")
    page = 0

    widest = size * 1.02  # no Helvetica glyph is wider than 1.015 em

    def clip(text: str, room: float) -> str:
        if "\n" in text or "\r" in text:  # one cell, one line: a line break would shift the column
            text = " ".join(text.split())
        if len(text) * widest <= room:
            return text
        full = stringWidth(text, font, size)
        if full <= room:
            return text
        # Cut near the right length in one step, then trim to fit with the ellipsis.
        text = text[: max(1, int(len(text) * room / full))]
        while len(text) > 1 and stringWidth(text + "…", font, size) > room:
            text = text[:-1]
        return text + "…"

    def header() -> float:
        nonlocal page
        page += 1
        pdf.setFont("Helvetica-Bold", 11)
        pdf.drawString(margin, height - margin, f"{clinic.name} — {report.title} (Schedule III)")
        pdf.setFont(font, 7.5)
        pdf.drawString(
            margin,
            height - margin - 12,
            f"{clinic.address}   Period: {report.subtitle}   Printed {printed} by {by}",
        )
        pdf.drawRightString(width - margin, height - margin, f"Page {page}")
        y = height - margin - 30
        pdf.setFont("Helvetica-Bold", size)
        x: float = margin
        for title, w in zip(report.columns, widths, strict=True):
            pdf.drawString(x, y, clip(title, w - 3))
            x += w
        pdf.line(margin, y - 3, width - margin, y - 3)
        pdf.setFont(font, size)
        return y - line_height - 2

    # Rows are collected a page at a time and drawn column by column, each column one
    # text object moving down a line per cell: far fewer PDF operators than a string
    # placed per cell (50,000 entries: see bench/ledger_report.py).
    top = header()
    per_page = int((top - margin) // line_height) + 1
    rows = 0
    batch: list[list[str]] = []

    def flush() -> None:
        x: float = margin
        for index, w in enumerate(widths):
            column = pdf.beginText(x, top)
            column.setFont(font, size)
            column.setLeading(line_height)
            column.textLines([clip(row[index], w - 3) for row in batch], trim=0)
            pdf.drawText(column)
            x += w

    for row in report.rows:
        if len(batch) == per_page:
            flush()
            pdf.showPage()
            top = header()
            batch = []
        batch.append(row)
        rows += 1
    flush()
    y = top - line_height * len(batch)
    if y < margin + line_height:
        pdf.showPage()
        y = header()
    pdf.setFont("Helvetica-Bold", 7.5)
    pdf.drawString(margin, y - 4, f"{rows} row{'s' if rows != 1 else ''}. End of report.")
    pdf.save()
    return buffer.getvalue()
