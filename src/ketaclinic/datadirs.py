"""Where the clinic's own knowledge files live (instruments, rules, protocols)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings


def clinic_data_dirs(kind: str) -> tuple[Path, ...]:
    """The clinic's directory for `kind` ("instruments", "rules", "protocols"), if it exists.

    Files there are validated like the shipped ones; a higher `version` replaces a
    shipped definition with the same code.
    """
    base = settings.KETACLINIC_DATA_DIR
    folder = Path(base) / kind if base else None
    return (folder,) if folder is not None and folder.is_dir() else ()
