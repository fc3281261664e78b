"""The API describes itself: OpenAPI 3 at /api/v1/openapi.json and docs at /api/v1/docs."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_the_openapi_document_lists_every_route_with_bearer_auth(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    for path in ("/api/v1/patients", "/api/v1/patients/{patient_id}", "/api/v1/audit/events"):
        assert path in paths
    schemes = document["components"]["securitySchemes"]
    assert any(s.get("scheme") == "bearer" for s in schemes.values())
    for path, operations in paths.items():
        for method, operation in operations.items():
            assert operation.get("security"), f"{method.upper()} {path} has no security"


def test_the_docs_page_loads(client):
    assert client.get("/api/v1/docs").status_code == 200
