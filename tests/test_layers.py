"""The layers hold in ways import-linter cannot see (pyproject.toml has the contracts).

A model looked up by name (`apps.get_model("treatment", "TreatmentSession")`) is a
dependency import-linter never sees: a lower app asks a higher one through its
`hooks.py` instead (docs/architecture.md, "The layers").
"""

from __future__ import annotations

import re
from pathlib import Path

import ketaclinic

SRC = Path(ketaclinic.__file__).parent
BY_NAME = re.compile(r"apps\.get_model\(")


def test_no_module_looks_up_a_model_by_name():
    found = [
        f"{path.relative_to(SRC)}:{number}"
        for path in sorted(SRC.rglob("*.py"))
        if "migrations" not in path.parts
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if BY_NAME.search(line)
    ]
    assert found == []


def test_the_treatment_app_answers_the_lower_apps_questions():
    from ketaclinic.inventory import hooks as inventory_hooks
    from ketaclinic.measures import hooks as measures_hooks
    from ketaclinic.scheduling import hooks as scheduling_hooks
    from ketaclinic.treatment import providers

    assert providers.appointments_with_sessions in scheduling_hooks.SESSIONS_OPENED
    assert providers.dose_times in measures_hooks.DOSE_TIMES
    assert inventory_hooks.SESSION_PATIENT == [providers.session_patient]
    ranked = [hook.__name__ for _, hook in sorted(measures_hooks.PATIENT_PHYSICIANS)]
    assert ranked[:2] == ["course_prescriber", "screening_decider"]


def test_billing_offers_superbills_to_the_portal_through_the_patients_hook():
    from ketaclinic.billing import providers
    from ketaclinic.patients import hooks as patient_hooks
    from ketaclinic.portal import summaries

    assert patient_hooks.PORTAL_DOCUMENTS == {
        "superbills": providers.SUPERBILLS,
        "session-summaries": summaries.SESSION_SUMMARIES,  # the portal's own released summaries
    }


def test_template_tags_run_no_queries_of_their_own():
    """Chart sections are read by their app's read function, called by the chart view."""
    found = [
        f"{path.relative_to(SRC)}:{number}"
        for path in sorted(SRC.glob("*/templatetags/*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if ".objects" in line
    ]
    assert found == []


def test_every_app_that_adds_to_the_chart_registers_its_read_function():
    from ketaclinic.patients import chart

    assert set(chart.SECTIONS) == {
        "measures",
        "screening",
        "scheduling",
        "treatment",
        "integration",
        "portal",
        "website",
    }
