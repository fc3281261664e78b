"""The loaded instrument definitions: shipped ones plus the clinic's own directory."""

from __future__ import annotations

import functools
from pathlib import Path

from django.core.exceptions import ValidationError

from ketaclinic.clinical.instruments import Instrument, load_instruments
from ketaclinic.datadirs import clinic_data_dirs

# The C-SSRS screener is published as a self-report form too, so patients may fill it in
# from a link although its definition is clinician-rated.
SELF_REPORT_EXTRA = frozenset({"cssrs_screen"})


def _extra_dirs() -> tuple[str, ...]:
    return tuple(str(folder) for folder in clinic_data_dirs("instruments"))


@functools.lru_cache(maxsize=8)
def _load(extra: tuple[str, ...]) -> dict[str, Instrument]:
    return load_instruments([Path(p) for p in extra])


def instruments() -> dict[str, Instrument]:
    """Return every loaded definition by code (read once per process and directory)."""
    return _load(_extra_dirs())


def get_instrument(code: str, field: str = "instrument") -> Instrument:
    """Return the definition with this code, or ValidationError naming `field`."""
    found = instruments().get(code) if isinstance(code, str) else None
    if found is None:
        raise ValidationError({field: f"Unknown instrument {code!r}."})
    return found


def patient_may_fill(instrument: Instrument) -> bool:
    """True when a patient may fill this instrument in by themselves (from a link)."""
    return instrument.rater == "self" or instrument.code in SELF_REPORT_EXTRA


def patient_fillable(codes: list[str]) -> list[Instrument]:
    """The instruments of a link (by code, in its order) that a patient may fill alone."""
    loaded = instruments()
    return [loaded[c] for c in codes if c in loaded and patient_may_fill(loaded[c])]


def has_total(instrument: Instrument) -> bool:
    """True when the instrument scores a total (everything but a risk level)."""
    return instrument.scoring.kind != "risk_level"
