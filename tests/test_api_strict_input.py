"""Every API request body refuses a key it does not declare: a 422 naming the key, and
nothing written. One base (ketaclinic/api_schemas.py `StrictIn`) does it for all routes;
the OpenAPI document says so with `additionalProperties: false`.
"""

from __future__ import annotations

import json

import pytest

from ketaclinic.api_schemas import StrictIn
from ketaclinic.outcomes.models import Publication
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling.models import OpeningHours, Room

pytestmark = pytest.mark.django_db

NEW = {
    "given_name": "Omar",
    "family_name": "Haddad",
    "birth_date": "1990-05-01",
    "sex_at_birth": "male",
}


def send(client, method: str, url: str, body: dict):
    return getattr(client, method)(url, json.dumps(body), content_type="application/json")


def named(response) -> list:
    return [error["loc"][-1] for error in response.json()["detail"]]


def _objects_in(schema: dict, components: dict, path: str, seen: set[str]):
    """Each object schema a request body can contain: (where, schema), following $refs."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name not in seen:
            seen.add(name)
            yield from _objects_in(components[name], components, name, seen)
        return
    if "properties" in schema:
        yield path, schema
        for key, inner in schema["properties"].items():
            yield from _objects_in(inner, components, f"{path}.{key}", seen)
    for key in ("anyOf", "oneOf", "allOf"):
        for index, inner in enumerate(schema.get(key, [])):
            yield from _objects_in(inner, components, f"{path}[{index}]", seen)
    if isinstance(schema.get("items"), dict):
        yield from _objects_in(schema["items"], components, f"{path}[]", seen)


def test_every_request_body_in_the_openapi_document_forbids_unknown_keys(client):
    document = client.get("/api/v1/openapi.json").json()
    components = document["components"]["schemas"]
    bodies = open_ones = 0
    problems = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody")
            if body is None:
                continue
            bodies += 1
            for media in body["content"].values():
                for where, schema in _objects_in(media["schema"], components, "body", set()):
                    open_ones += 1
                    if schema.get("additionalProperties") is not False:
                        problems.append(f"{method.upper()} {path}: {where}")
    assert bodies > 50, "the walk found too few request bodies to mean anything"
    assert open_ones >= bodies
    assert not problems, "request bodies that accept unknown keys:\n" + "\n".join(problems)


def test_every_body_model_of_every_route_is_a_strict_input():
    from ketaclinic.api import api

    loose = []
    for _prefix, router in api._routers:
        for path_view in router.path_operations.values():
            for operation in path_view.operations:
                for model in operation.models:
                    if model.__ninja_param_source__ != "body":
                        continue
                    for field in model.model_fields.values():
                        kind = field.annotation
                        inner = [a for a in getattr(kind, "__args__", ()) if a is not type(None)]
                        kind = inner[0] if inner else kind
                        if not (isinstance(kind, type) and issubclass(kind, StrictIn)):
                            loose.append(f"{operation.view_func.__module__}: {kind}")
    assert not loose, "\n".join(loose)


def test_a_new_patient_with_an_unknown_key_is_refused_naming_it(staff, api_client):
    response = send(
        api_client(staff["front_desk"]), "post", "/api/v1/patients", {**NEW, "nickname": "O"}
    )
    assert response.status_code == 422
    assert named(response) == ["nickname"]
    assert not Patient.objects.exists()


def test_a_patient_change_with_a_misspelt_key_changes_nothing(staff, patient, api_client):
    before = (patient.phone, patient.version)
    response = send(
        api_client(staff["front_desk"]),
        "patch",
        f"/api/v1/patients/{patient.pk}",
        {"phone": "+1 555 0100", "verison": patient.version},
    )
    assert response.status_code == 422
    assert named(response) == ["verison"]
    patient.refresh_from_db()
    assert (patient.phone, patient.version) == before


def test_an_unknown_key_inside_a_list_item_is_named_by_its_position(staff, api_client):
    before = list(OpeningHours.objects.values_list("pk", flat=True))
    response = send(
        api_client(staff["admin"]),
        "put",
        "/api/v1/opening-hours",
        {"hours": [{"weekday": 0, "starts": "09:00", "ends": "17:00", "lunch": "12:00"}]},
    )
    assert response.status_code == 422
    assert [e["loc"][-3:] for e in response.json()["detail"]] == [["hours", 0, "lunch"]]
    assert list(OpeningHours.objects.values_list("pk", flat=True)) == before


def test_a_new_room_with_an_unknown_key_is_refused(clinic, staff, api_client):
    before = Room.objects.filter(clinic=clinic).count()
    response = send(
        api_client(staff["admin"]),
        "post",
        "/api/v1/rooms",
        {"name": "Chair 9", "kind": "treatment_chair", "colour": "blue"},
    )
    assert response.status_code == 422
    assert named(response) == ["colour"]
    assert Room.objects.filter(clinic=clinic).count() == before


def test_a_publication_body_read_by_hand_refuses_an_unknown_key(staff, api_client):
    response = send(
        api_client(staff["admin"]), "post", "/api/v1/outcomes/publications", {"form": "2024-01"}
    )
    assert response.status_code == 422
    assert named(response) == ["form"]
    assert not Publication.objects.exists()


def test_the_role_check_still_answers_before_the_unknown_key(staff, api_client):
    response = send(
        api_client(staff["front_desk"]),
        "post",
        "/api/v1/rooms",
        {"name": "Chair 9", "kind": "treatment_chair", "colour": "blue"},
    )
    assert response.status_code == 403
