"""Which rows of the record become which FHIR resources: the whitelist, and how to find them.

`TYPES` is the only list of what the FHIR API and the bulk export can read. Each
resource type names its sources (a model, the path from it to its clinic and patient,
its date field) and the search parameters it answers. A model that is not named here
is never read, so a new kind of private data (psychotherapy notes, a journal) stays
out of every FHIR answer until it is mapped on purpose; tests/interop checks the list.

The parts: ``builders`` (a source row to its resources), ``whitelist`` (``TYPES``) and
``search`` (reading, searching and paging).
"""

from __future__ import annotations

from .builders import (
    ADMINISTRATION_FIELDS,
    APPOINTMENT_FIELDS,
    READING_FIELDS,
    RESPONSE_FIELDS,
    SESSION_FIELDS,
    Context,
    Resource,
    Source,
)
from .search import (
    CHUNK_ROWS,
    MAX_COUNT,
    Search,
    matches,
    page,
    parse_search,
    patient_ids_of,
    patient_of,
    questionnaire,
    questionnaires,
    read,
)
from .whitelist import (
    BODY_ID,
    COMMON_PARAMS,
    ENCOUNTER_STATES,
    QUESTIONNAIRE_ACTION,
    SCORE_ID,
    SESSION_OBS_ID,
    TYPES,
    VITAL_ID,
    ResourceType,
    allowed_params,
)

__all__ = [
    "ADMINISTRATION_FIELDS",
    "APPOINTMENT_FIELDS",
    "BODY_ID",
    "CHUNK_ROWS",
    "COMMON_PARAMS",
    "Context",
    "ENCOUNTER_STATES",
    "MAX_COUNT",
    "QUESTIONNAIRE_ACTION",
    "READING_FIELDS",
    "RESPONSE_FIELDS",
    "Resource",
    "ResourceType",
    "SCORE_ID",
    "SESSION_FIELDS",
    "SESSION_OBS_ID",
    "Search",
    "Source",
    "TYPES",
    "VITAL_ID",
    "allowed_params",
    "matches",
    "page",
    "parse_search",
    "patient_ids_of",
    "patient_of",
    "questionnaire",
    "questionnaires",
    "read",
]
