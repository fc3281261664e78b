"""Reading the ledger: listing its entries, checking its hash chain and telling the administrators when it breaks."""

from __future__ import annotations

from datetime import date

from django.db.models import QuerySet

from ketaclinic.accounts.models import Clinic, Membership
from ketaclinic.accounts.roles import may
from ketaclinic.audit.models import AuditEvent
from ketaclinic.inventory import ledger_chain
from ketaclinic.inventory.models import LedgerEntry, Product

from .posting import _corrected


def ledger_entries(
    clinic: Clinic,
    *,
    product: int | None = None,
    lot: int | None = None,
    start: date | None = None,
    end: date | None = None,
    kinds: list[str] | None = None,
    corrected: bool = True,
) -> QuerySet[LedgerEntry]:
    """The clinic's entries in the order they were recorded (the order of the running
    balances), filtered; dates select by when it happened, whole days in the clinic's time zone.
    `corrected=False`: the caller marks reversed entries itself (a page: one lookup)."""
    entries = LedgerEntry.objects.for_clinic(clinic).select_related(
        "product", "lot", "location", "recorded_by", "witness", "patient"
    )
    if corrected:
        entries = entries.annotate(corrected=_corrected())
    if product:
        entries = entries.filter(product_id=product)
    if lot:
        entries = entries.filter(lot_id=lot)
    if kinds:
        entries = entries.filter(kind__in=kinds)
    lower, upper = clinic.day_span(start, end)
    if lower:
        entries = entries.filter(occurred_at__gte=lower)
    if upper:
        entries = entries.filter(occurred_at__lt=upper)
    return entries.order_by("id")


def verify_ledger() -> list[ledger_chain.Problem]:
    """Every way the stored ledger differs from what was written, first problem first."""
    columns = ("id", "hash", "prev_hash", *ledger_chain.HASHED)
    entries = LedgerEntry.objects.order_by("lot_id", "id").values(*columns)
    mg_per_unit = dict(Product.objects.values_list("id", "mg_per_unit"))
    vouched = {}
    for object_id, detail in AuditEvent.objects.filter(
        object_type=LedgerEntry._meta.label_lower
    ).values_list("object_id", "detail"):
        if isinstance(detail, dict) and "hash" in detail:
            vouched[int(object_id)] = detail["hash"]
    return ledger_chain.check_entries(entries.iterator(chunk_size=2000), mg_per_unit, vouched)


def alert_admins_of_ledger_problems(problems: list[ledger_chain.Problem]) -> int:
    """E-mail every clinic's admins that the ledger failed verification; returns e-mails sent.

    The message names entry ids and what is wrong, never a patient.
    """
    from django.core.mail import send_mail

    if not problems:
        return 0
    ids = [p.entry for p in problems if p.entry]
    clinics = dict(LedgerEntry.objects.filter(pk__in=ids).values_list("pk", "clinic_id"))
    # An entry that is gone is still named by its audit event.
    for object_id, clinic_id in AuditEvent.objects.filter(
        object_type=LedgerEntry._meta.label_lower,
        object_id__in=[str(pk) for pk in ids if pk not in clinics],
    ).values_list("object_id", "clinic_id"):
        clinics[int(object_id)] = clinic_id
    sent = 0
    for clinic in Clinic.objects.filter(pk__in=set(clinics.values())):
        mine = [p for p in problems if clinics.get(p.entry or 0) == clinic.pk]
        recipients = sorted(
            m.user.email
            for m in Membership.objects.active().select_related("user").filter(clinic=clinic)
            if m.user.email and may(m.role, "audit.view")
        )
        if not recipients:
            continue
        lines = [str(p) for p in mine[:50]]
        send_mail(
            f"{clinic.name}: the controlled-substance ledger failed verification",
            "The nightly check (python -m ketaclinic verify_ledger) found:\n\n"
            + "\n".join(lines)
            + "\n\nThe ledger may have been altered outside the application. Secure the "
            "database, compare with the last backup and the paper records, and report as "
            "your state and DEA rules require.",
            None,
            recipients,
        )
        sent += 1
    return sent
