"""The CapabilityStatement: built from sources.TYPES, so it lists exactly what is served."""

from __future__ import annotations

from typing import Any

from ketaclinic.interop import sources
from ketaclinic.interop import terminology as t

SEARCH_TYPES = {
    "patient": "reference",
    "subject": "reference",
    "_id": "token",
    "_lastUpdated": "date",
    "identifier": "token",
    "name": "string",
    "family": "string",
    "given": "string",
    "gender": "token",
    "category": "token",
    "code": "token",
    "clinical-status": "token",
    "status": "token",
    "questionnaire": "reference",
}
RESULT_PARAMS = {"_count", "_offset", "_include", "_format"}
BULK = "http://hl7.org/fhir/uv/bulkdata"


def _resource(kind: sources.ResourceType) -> dict[str, Any]:
    params = sorted(sources.allowed_params(kind) - RESULT_PARAMS)
    entry: dict[str, Any] = {
        "type": kind.name,
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "searchParam": [
            {"name": name, "type": "date" if name in kind.dates else SEARCH_TYPES[name]}
            for name in params
        ],
    }
    if kind.us_core:
        entry["supportedProfile"] = [f"{t.US_CORE}/{kind.us_core}"]
    if kind.includes:
        entry["searchInclude"] = sorted(kind.includes)
    if kind.name == "Observation":
        entry["supportedProfile"] = [
            f"{t.US_CORE}/{t.BP_PROFILE}",
            *(f"{t.US_CORE}/{v.profile}" for v in t.VITALS.values()),
        ]
    return entry


def capability_statement(base: str) -> dict[str, Any]:
    resources = [_resource(kind) for kind in sources.TYPES.values()]
    resources.append(
        {
            "type": "Questionnaire",
            "interaction": [{"code": "read"}, {"code": "search-type"}],
        }
    )
    resources.append(
        {
            "type": "Group",
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "operation": [
                {"name": "export", "definition": f"{BULK}/OperationDefinition/group-export"}
            ],
        }
    )
    for entry in resources:
        if entry["type"] == "Patient":
            entry["operation"] = [
                {"name": "export", "definition": f"{BULK}/OperationDefinition/patient-export"}
            ]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-12-06",
        "publisher": "ketaclinic",
        "kind": "instance",
        "software": {"name": "ketaclinic"},
        "implementation": {"description": "ketaclinic FHIR R4 API", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json"],
        "instantiates": [f"{BULK}/CapabilityStatement/bulk-data"],
        "rest": [
            {
                "mode": "server",
                "documentation": (
                    "Read and search of one clinic's record; unknown search parameters are "
                    "refused (400). Paging with _count (at most "
                    f"{sources.MAX_COUNT}) and Bundle.link next. Bulk Data 2.0.0 export "
                    "(system, Patient, Group) for admins."
                ),
                "security": {
                    "cors": False,
                    "description": (
                        "Bearer tokens issued per staff member (Account > API tokens); "
                        "roles and clinic as in the JSON API."
                    ),
                },
                "resource": resources,
                "operation": [
                    {"name": "export", "definition": f"{BULK}/OperationDefinition/export"}
                ],
            }
        ],
    }
