"""The clinic's outcome, safety and operations figures, and the patients behind each number.

Every figure is an aggregate over the per-patient rows (`PatientCohort`,
`InstrumentOutcome`) or over the clinic's sessions and appointments, grouped in SQL:
the number of queries is fixed, and the rows they return are bounded by the number of
groups and distinct values (score changes, days), not by the number of patients.
The statistics themselves are `clinical.statistics`.

The parts: ``filters`` (the filters and the groups), ``summary`` (outcomes per group),
``safety`` (safety and operations) and ``drilldown`` (the patients behind a number).
"""

from __future__ import annotations

from .drilldown import SAFETY_FIGURES, patients_behind, record_drilldown
from .filters import (
    COURSE_NUMBER_LABELS,
    DROPOUT_GAP,
    FAMILY_NAMES,
    GROUPINGS,
    INSTRUMENTS,
    NO_COURSE,
    NO_COURSE_LABEL,
    OUTCOME_MEASURES,
    SHORT_NAMES,
    YEARS,
    Filters,
    cohorts,
    dropout_q,
    family_labels,
    group_labels,
    outcomes,
    parse_filters,
)
from .safety import appointments_in, dropout_reasons, safety, sessions_in
from .summary import EMPTY_OUTCOME, OUTCOME_COUNTS, summary

__all__ = [
    "COURSE_NUMBER_LABELS",
    "DROPOUT_GAP",
    "EMPTY_OUTCOME",
    "FAMILY_NAMES",
    "Filters",
    "GROUPINGS",
    "INSTRUMENTS",
    "NO_COURSE",
    "NO_COURSE_LABEL",
    "OUTCOME_COUNTS",
    "OUTCOME_MEASURES",
    "SAFETY_FIGURES",
    "SHORT_NAMES",
    "YEARS",
    "appointments_in",
    "cohorts",
    "dropout_q",
    "dropout_reasons",
    "family_labels",
    "group_labels",
    "outcomes",
    "parse_filters",
    "patients_behind",
    "record_drilldown",
    "safety",
    "sessions_in",
    "summary",
]
