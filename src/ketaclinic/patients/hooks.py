"""Extension points a higher app registers at start-up (patients never imports it).

The portal's Documents page lists what the patient may open. Billing adds the patient's
superbills there, but portal and billing are sibling layers that never import each other
(pyproject.toml, import-linter): both meet here. Each kind of document registers a
`PatientDocuments`; the portal lists its rows, links each to its own download route, and
asks the owner for the file with the signed-in patient's own clinic and patient ids, so a
source never sees an id it did not list for that patient.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PatientFile:
    filename: str
    content: bytes
    obj: Any  # the row the download is audited against


@dataclass(frozen=True)
class PatientDocuments:
    # (clinic_id, patient_id) -> rows {"id", "title", "date", "note"} the patient may open
    rows: Callable[[int, int], list[dict[str, Any]]]
    # (clinic_id, patient_id, document id) -> the file, or None when it is not theirs to open
    open: Callable[[int, int, int], PatientFile | None]
    # Optional page of the source's own at /portal/documents/<kind>/, linked from the
    # Documents page as `page_title` (billing: a superbill for dates the patient chooses).
    # (request, clinic_id, patient_id) -> response; the portal has checked the patient
    # first and set `request.actor` (the patient) for the audit.
    page: Callable[[Any, int, int], Any] | None = None
    page_title: str = ""


# kind (a slug, part of the portal's download URL) -> its source
PORTAL_DOCUMENTS: dict[str, PatientDocuments] = {}
