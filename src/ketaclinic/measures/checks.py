"""A system check that loads every instrument definition, so a broken file stops start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.checks import Error, register

from ketaclinic.clinical.instruments import InstrumentDefinitionError, load_instruments
from ketaclinic.datadirs import clinic_data_dirs


@register("ketaclinic")
def check_instruments(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Report a shipped or clinic instrument file that does not load (file, field, error)."""
    try:
        load_instruments([Path(p) for p in clinic_data_dirs("instruments")])
    except InstrumentDefinitionError as exc:
        where = f"{exc.path} ({exc.field})" if exc.field else exc.path
        return [
            Error(
                f"Instrument definition {where} does not load: {exc.message}",
                hint="Fix the file, or remove it from the clinic's instruments directory.",
                obj=exc.path,
                id="measures.E001",
            )
        ]
    return []
