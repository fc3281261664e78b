"""A broken instrument file is reported by `check` (and so at start-up), not at request time."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

import ketaclinic.clinical.instruments as shipped
from ketaclinic.measures.checks import check_instruments

SHIPPED = Path(shipped.__file__).parent / "definitions"


def clinic_file(settings, tmp_path, name: str, text: str) -> Path:
    folder = tmp_path / "instruments"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    settings.KETACLINIC_DATA_DIR = str(tmp_path)
    return path


def test_the_shipped_and_a_valid_clinic_file_pass(settings, tmp_path):
    source = (SHIPPED / "pain_nrs.yaml").read_text(encoding="utf-8")
    clinic_file(settings, tmp_path, "pain.yaml", source.replace("version: 1", "version: 2", 1))
    assert check_instruments() == []


def test_a_broken_clinic_file_is_named_with_its_field_and_error(settings, tmp_path):
    source = (SHIPPED / "gad7.yaml").read_text(encoding="utf-8")
    broken = source.replace("version: 1", "version: 2", 1).replace("max: 21", "max: 22", 1)
    path = clinic_file(settings, tmp_path, "gad7.yaml", broken)
    errors = check_instruments()
    assert [e.id for e in errors] == ["measures.E001"]
    assert errors[0].msg == (
        f"Instrument definition {path} (scoring.max) does not load: "
        "declared 22 but the items give 0-21"
    )
    assert errors[0].obj == str(path)


def test_the_check_command_stops_on_a_file_that_is_not_yaml(settings, tmp_path):
    path = clinic_file(settings, tmp_path, "mine.yaml", "code: [unclosed\n")
    with pytest.raises(SystemCheckError, match=f"Instrument definition {path} does not load"):
        call_command("check")
