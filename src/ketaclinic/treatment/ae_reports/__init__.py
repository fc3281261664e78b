"""Adverse-event reports: FDA MedWatch Form 3500 and, for esketamine, the REMS report.

A serious adverse event (or one a physician marks reportable) owes a voluntary FDA
MedWatch Form 3500 [docs/clinical-sources.md §10 (Changes since the first wave)] and, for esketamine, a report of the suspected
adverse event to the SPRAVATO REMS [REMS-IN; docs/clinical-sources.md §10 (Changes since the first wave)]. The report rows are created
at once; what the record knows (patient initials and age, drug, dose, lot, dates,
the event, outcome, reporter) is pre-filled from the session each time the report is
shown, and the reporter adds the narrative (description, relevant tests, history, the
Form 3500 outcome boxes). A report is *due* until its draft is saved, *drafted* until
someone records the day it was submitted (and by whom), then *submitted*.

A serious event also reaches the clinic at once: an urgent alert on the session (the
chair board shows it at the chair) and an urgent alert on the physicians' alert list,
which a person closes; the physicians are e-mailed on commit (the worker retries the
alert's e-mail if the mail server fails).

The Form 3500 field list follows the FDA's voluntary form (https://www.fda.gov/media/76299/download,
sections A patient, B adverse event, D suspect product, F other products, G reporter)
[verify against the current edition]. The REMS takes adverse-event reports by
telephone (1-855-382-6022) [REMS-IN]: our sources give no REMS form, so the REMS
report is a summary sheet for that call or a fax, versioned as ours.

The parts: ``forms`` (the forms' names and numbers), ``alerts`` (a serious event's
reports and alerts), ``content`` (reading and the pre-filled content), ``writes``
(drafts and submission) and ``pdf``.
"""

from __future__ import annotations

from .alerts import mark_reportable, notify, serious_event_recorded
from .content import (
    REQUIRED,
    SUBMITTED_PER_PAGE,
    Listing,
    get_report_for,
    missing,
    prefilled,
    reports_listing,
)
from .forms import ALERT_CODE, MAX_TEXT, MEDWATCH_FORM, OUTCOMES, REMS_AE_PHONE, REMS_FAX, REMS_FORM
from .pdf import as_pdf
from .writes import mark_submitted, open_alert_for, save_draft

__all__ = [
    "ALERT_CODE",
    "Listing",
    "MAX_TEXT",
    "MEDWATCH_FORM",
    "OUTCOMES",
    "REMS_AE_PHONE",
    "REMS_FAX",
    "REMS_FORM",
    "REQUIRED",
    "SUBMITTED_PER_PAGE",
    "as_pdf",
    "get_report_for",
    "mark_reportable",
    "mark_submitted",
    "missing",
    "notify",
    "open_alert_for",
    "prefilled",
    "reports_listing",
    "save_draft",
    "serious_event_recorded",
]
