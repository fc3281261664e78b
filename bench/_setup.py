"""Start Django on a throw-away database for a benchmark (SQLite in a temp dir, or DATABASE_URL)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path


def django_on_scratch_db() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    os.environ.setdefault("KETACLINIC_VAR_DIR", tempfile.mkdtemp(prefix="ketaclinic-bench-"))
    os.environ.setdefault("KETACLINIC_DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ketaclinic.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
