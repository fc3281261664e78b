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
        if path.startswith("/api/v1/public/"):
            continue  # published, de-identified outcomes: no credentials by design
        for method, operation in operations.items():
            assert operation.get("security"), f"{method.upper()} {path} has no security"


def test_the_docs_page_loads_swagger_from_this_server_not_a_cdn(client):
    """The content security policy allows scripts and styles from this server only."""
    html = client.get("/api/v1/docs").content.decode()
    assert '<script src="/static/ninja/swagger-ui-bundle.js">' in html
    assert "cdn." not in html and "<script>" not in html
    assert client.get("/static/ninja/swagger-ui-bundle.js").status_code == 200


def test_every_request_body_is_described_by_its_own_schema():
    """Two schemas of one name share one OpenAPI component: one route's body would be
    documented (and fuzzed) with the other's fields."""
    from ketaclinic.api import api

    documented = api.get_openapi_schema()
    components = documented["components"]["schemas"]
    wrong = []
    for prefix, router in api._routers:
        for path, path_view in router.path_operations.items():
            for operation in path_view.operations:
                body = next((m for m in operation.models if m.__name__ == "BodyParams"), None)
                if body is None:
                    continue
                model = body.model_fields["payload"].annotation
                if not hasattr(model, "model_fields"):
                    continue  # a list or a union: described inline, no shared name
                full = "/api/v1/" + "/".join(p.strip("/") for p in (prefix, path) if p.strip("/"))
                for method in operation.methods:
                    spec = documented["paths"][full][method.lower()]["requestBody"]
                    schema = spec["content"]["application/json"]["schema"]
                    if "$ref" in schema:
                        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
                    fields = set(schema.get("properties", {}))
                    if fields != set(model.model_fields):
                        wrong.append(f"{method} {full}")
    assert wrong == []


def test_the_public_document_is_built_once_not_on_every_request(client, monkeypatch):
    """Building it costs over half a second of CPU: anyone asking again must not rebuild it."""
    from ninja import main

    built = []
    real = main.get_schema
    monkeypatch.setattr(main, "get_schema", lambda **kw: built.append(1) or real(**kw))
    first = client.get("/api/v1/openapi.json").json()
    assert client.get("/api/v1/openapi.json").json() == first
    assert len(built) <= 1
