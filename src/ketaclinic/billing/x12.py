"""Claims as ASC X12 837P 5010 (005010X222A1): one claim or a batch in one interchange.

Lessons from OpenEMR's defects (docs/architecture.md, billing): HL numbers count from 1
in order with the right parents; the service facility loop (2310C) is left out when it is
the billing provider's own address; the claim frequency code (CLM05-3) is 1, 7 or 8 with
the payer's claim number (REF*F8) on a correction. The NDC of J3490 goes in loop 2410
(LIN*N4, CTP quantity and unit). `problems()` lists what the file would get wrong before
it is written (missing NPI, bad check digit, no diagnosis) so the biller fixes it first.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from ketaclinic.billing.models import (
    FILING_INDICATOR,
    BillingProfile,
    Charge,
    ChargeStatus,
    Claim,
    ProviderNumber,
)
from ketaclinic.billing.numbers import digits, ndc11, npi_valid

SEX = {"female": "F", "male": "M"}


def clean(text: str, limit: int = 60) -> str:
    """Upper-case ASCII without the separators (* : ^ ~), at most `limit` characters."""
    folded = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode()
    folded = re.sub(r"[*:^~\r\n]", " ", folded)
    return " ".join(folded.upper().split())[:limit]


def amount(value: Decimal | None) -> str:
    value = (value or Decimal(0)).quantize(Decimal("0.01"))
    text = format(value, "f").rstrip("0").rstrip(".")
    return text or "0"


def quantity(value: Decimal | None) -> str:
    text = format((value or Decimal(0)).normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _lines(claim: Claim) -> list[Charge]:
    return list(
        claim.charges.exclude(status=ChargeStatus.VOID).order_by("service_date", "position", "pk")
    )


def problems(profile: BillingProfile | None, claims: Sequence[Claim]) -> list[str]:
    """What would make the file wrong, in words for the biller (empty when it can go)."""
    found: list[str] = []
    if profile is None:
        return ["Set up the clinic's billing profile (legal name, NPI, TIN, address) first."]
    if not npi_valid(profile.npi):
        found.append("The clinic's billing NPI fails its check digit.")
    if len(digits(profile.tin)) != 9:
        found.append("The clinic's TIN must have nine digits.")
    if len(digits(profile.zip_code)) != 9:
        found.append("The billing provider's ZIP code needs all nine digits (ZIP+4).")
    for claim in claims:
        lines = _lines(claim)
        if not lines:
            found.append(f"Claim {claim.pk} has no lines.")
        if len(lines) > 50:
            found.append(f"Claim {claim.pk} has more than 50 lines.")
        for line in lines:
            if line.status != ChargeStatus.APPROVED:
                found.append(f"Claim {claim.pk}: {line.code} is not approved.")
            if not line.diagnosis_pointers or len(line.diagnosis_pointers) > 4:
                found.append(f"Claim {claim.pk}: {line.code} needs 1 to 4 diagnosis pointers.")
            if any(p > len(line.diagnoses) for p in line.diagnosis_pointers):
                found.append(f"Claim {claim.pk}: {line.code} points past its diagnoses.")
            if line.units <= 0:
                found.append(f"Claim {claim.pk}: {line.code} has no units.")
            if line.code == "J3490" and (ndc11(line.ndc) is None or not line.ndc_quantity):
                found.append(f"Claim {claim.pk}: J3490 needs the 11-digit NDC and quantity.")
        if claim.frequency_code in ("7", "8") and not claim.payer_claim_number:
            found.append(f"Claim {claim.pk}: a correction needs the payer's claim number.")
    return found


def _diagnoses(lines: list[Charge]) -> list[str]:
    return list(lines[0].diagnoses[:12]) if lines else []


def render(
    profile: BillingProfile,
    claims: Sequence[Claim],
    *,
    control: int,
    now: datetime | None = None,
    production: bool = False,
) -> str:
    """The 837P interchange for `claims` (one ST per file), segments ending in '~' and a newline."""
    now = now or timezone.now()
    sender = clean(profile.submitter_id, 15)
    receiver = clean(profile.receiver_id, 15)
    segs: list[str] = []

    def add(*elements: str) -> None:
        while len(elements) > 1 and elements[-1] == "":
            elements = elements[:-1]
        segs.append("*".join(elements))

    isa = (
        f"ISA*00*{'':10}*00*{'':10}*ZZ*{sender:<15}*ZZ*{receiver:<15}*{now:%y%m%d}*{now:%H%M}"
        f"*^*00501*{control:09d}*0*{'P' if production else 'T'}*:"
    )
    gs = f"GS*HC*{sender}*{receiver}*{now:%Y%m%d}*{now:%H%M}*{control}*X*005010X222A1"
    add("ST", "837", "0001", "005010X222A1")
    add("BHT", "0019", "00", f"KC{control}", f"{now:%Y%m%d}", f"{now:%H%M}", "CH")
    add("NM1", "41", "2", clean(profile.legal_name), "", "", "", "", "46", sender)
    add("PER", "IC", "BILLING OFFICE", "TE", digits(profile.phone)[:10] or "0000000000")
    add("NM1", "40", "2", receiver, "", "", "", "", "46", receiver)
    add("HL", "1", "", "20", "1")
    add("PRV", "BI", "PXC", clean(profile.taxonomy, 10))
    add("NM1", "85", "2", clean(profile.legal_name), "", "", "", "", "XX", profile.npi)
    add("N3", clean(profile.address_line, 55))
    add("N4", clean(profile.city, 30), clean(profile.state, 2), digits(profile.zip_code))
    add("REF", "EI", digits(profile.tin))
    hl = 1
    providers = {
        p.membership_id: p for p in ProviderNumber.objects.filter(clinic_id=profile.clinic_id)
    }
    for claim in claims:
        lines = _lines(claim)
        coverage = claim.coverage
        payer = coverage.payer
        patient = claim.patient
        is_self = coverage.relationship == "18"
        hl += 1
        subscriber_hl = hl
        add("HL", str(hl), "1", "22", "0" if is_self else "1")
        add(
            "SBR",
            "P" if coverage.priority == 1 else "S",
            "18" if is_self else "",
            clean(coverage.group_number, 50),
            "",
            "",
            "",
            "",
            "",
            FILING_INDICATOR.get(payer.kind, "CI"),
        )
        add(
            "NM1",
            "IL",
            "1",
            clean(coverage.subscriber_family_name),
            clean(coverage.subscriber_given_name, 35),
            "",
            "",
            "",
            "MI",
            clean(coverage.member_id, 80),
        )
        if is_self:
            add("N3", clean(coverage.address_line, 55))
            add("N4", clean(coverage.city, 30), clean(coverage.state, 2), digits(coverage.zip_code))
            add(
                "DMG",
                "D8",
                f"{coverage.subscriber_birth_date:%Y%m%d}",
                coverage.subscriber_sex or "U",
            )
        add("NM1", "PR", "2", clean(payer.name), "", "", "", "", "PI", clean(payer.payer_id, 80))
        if not is_self:
            hl += 1
            add("HL", str(hl), str(subscriber_hl), "23", "0")
            add("PAT", coverage.relationship)
            add("NM1", "QC", "1", clean(patient.family_name), clean(patient.given_name, 35))
            add("N3", clean(coverage.address_line, 55))
            add("N4", clean(coverage.city, 30), clean(coverage.state, 2), digits(coverage.zip_code))
            add("DMG", "D8", f"{patient.birth_date:%Y%m%d}", SEX.get(patient.sex_at_birth, "U"))
        total = sum((line.price or Decimal(0) for line in lines), Decimal(0))
        add(
            "CLM",
            claim.control_number,
            amount(total),
            "",
            "",
            f"{profile.place_of_service}:B:{claim.frequency_code}",
            "Y",
            "A",
            "Y",
            "Y",
        )
        if claim.frequency_code in ("7", "8"):
            add("REF", "F8", clean(claim.payer_claim_number, 50))
        dx = [d.replace(".", "") for d in _diagnoses(lines)]
        if dx:
            add("HI", *[("ABK:" if i == 0 else "ABF:") + d for i, d in enumerate(dx)])
        provider = providers.get(lines[0].provider_id) if lines and lines[0].provider_id else None
        if provider is not None and npi_valid(provider.npi):
            user = provider.membership.user
            add(
                "NM1",
                "82",
                "1",
                clean(user.last_name or user.username),
                clean(user.first_name, 35),
                "",
                "",
                "",
                "XX",
                provider.npi,
            )
            if provider.taxonomy:
                add("PRV", "PE", "PXC", clean(provider.taxonomy, 10))
        for number, line in enumerate(lines, start=1):
            add("LX", str(number))
            procedure = ["HC", line.code, *[clean(m, 2) for m in line.modifiers[:4]]]
            if line.description:
                procedure += [""] * (6 - len(procedure)) + [clean(line.description, 80)]
            add(
                "SV1",
                ":".join(procedure),
                amount(line.price),
                "UN",
                quantity(line.units),
                "",
                "",
                ":".join(str(p) for p in line.diagnosis_pointers[:4]),
            )
            add("DTP", "472", "D8", f"{line.service_date:%Y%m%d}")
            if line.ndc:
                add("LIN", "", "N4", ndc11(line.ndc) or line.ndc)
                add("CTP", "", "", "", quantity(line.ndc_quantity), line.ndc_unit or "UN")
    count = len(segs) + 1
    add("SE", str(count), "0001")
    body = [isa, gs, *segs, f"GE*1*{control}", f"IEA*1*{control:09d}"]
    return "~\n".join(body) + "~\n"
