"""DEA registration numbers: their form and check digit (the ledger's suppliers, the clinic's own)."""

from __future__ import annotations

import re

DEA_PATTERN = re.compile(r"^[A-Z]{2}\d{7}$")


def dea_number_problem(value: str) -> str | None:
    """Why `value` is not a well-formed DEA registration number, or None when it is.

    Format: two letters then seven digits; the seventh digit is a check digit.
    Check digit rule (as published for verifying DEA numbers, e.g. takerx.com
    "Verify DEA number", http://www.takerx.com/verify.html; also the Wikipedia
    article "DEA number"): add digits 1, 3 and 5; add digits 2, 4 and 6 and double
    that sum; the last digit of the total must equal digit 7. Example AP5836727:
    5+3+7 = 15, 2×(8+6+2) = 32, 15+32 = 47 → 7. A valid checksum does not prove the
    registration exists or is current: staff still verify it with the supplier.
    """
    text = (value or "").strip().upper()
    if not DEA_PATTERN.match(text):
        return "A DEA number is two letters followed by seven digits (e.g. RH1234563)."
    digits = [int(c) for c in text[2:]]
    total = digits[0] + digits[2] + digits[4] + 2 * (digits[1] + digits[3] + digits[5])
    if total % 10 != digits[6]:
        return "This DEA number's check digit is wrong: check it against the invoice."
    return None


def with_check_digit(prefix: str) -> str:
    """The nine-character DEA number for two letters + six digits (for demo and test data)."""
    d = [int(c) for c in prefix[2:8]]
    total = d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])
    return f"{prefix[:8]}{total % 10}"
