"""Identifier checks the X12 validator does not make: NPI check digit, NDC 5-4-2, TIN."""

from __future__ import annotations

import re


def npi_valid(npi: str) -> bool:
    """True for a 10-digit NPI whose last digit is the Luhn check over 80840 + the first nine."""
    if not re.fullmatch(r"\d{10}", npi or ""):
        return False
    digits = [int(d) for d in "80840" + npi[:9]]
    total = 0
    # Double every second digit counting from the right of the 14 digits (the check
    # digit would be position 0 of the full 15).
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    check = (10 - total % 10) % 10
    return check == int(npi[9])


def npi_with_check_digit(first_nine: str) -> str:
    """The NPI whose first nine digits are given (for demo data and tests)."""
    for last in "0123456789":
        if npi_valid(first_nine + last):
            return first_nine + last
    raise ValueError("no check digit")  # pragma: no cover - one always fits


def ndc11(ndc: str) -> str | None:
    """The 11-digit 5-4-2 form of an NDC, or None if it cannot be told.

    A 10-digit NDC needs its hyphens to know which segment gets the leading zero
    (4-4-2, 5-3-2 or 5-4-1); 11 bare digits are taken as 5-4-2.
    """
    ndc = (ndc or "").strip()
    if re.fullmatch(r"\d{11}", ndc):
        return ndc
    m = re.fullmatch(r"(\d{4,5})-(\d{3,4})-(\d{1,2})", ndc)
    if not m:
        return None
    a, b, c = m.groups()
    if len(a) + len(b) + len(c) not in (10, 11):
        return None
    return a.zfill(5) + b.zfill(4) + c.zfill(2)


def tin_valid(tin: str) -> bool:
    """An employer identification number: nine digits (with or without the hyphen)."""
    return bool(re.fullmatch(r"\d{2}-?\d{7}", tin or ""))


def digits(text: str) -> str:
    return re.sub(r"\D", "", text or "")
