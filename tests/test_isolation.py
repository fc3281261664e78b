"""Clinic isolation with real objects: a physician of another clinic reaches none of them.

The role walk (test_role_walk.py) checks every route against the role table with ids
that do not exist. Here the demo clinic is loaded, every route is filled with the ids
of real Harbor Light objects, and Northside's physician (dr.other) sends a body that
passes the schema, so what refuses the request is the clinic check, not validation.
"""

from __future__ import annotations

import json
import re

import pytest
from django.apps import apps
from django.test import Client

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import ApiToken, Membership
from ketaclinic.inventory import services as inventory
from ketaclinic.inventory.models import Lot
from tests.api_examples import request_body
from tests.test_role_walk import OPEN_PAGES, PUBLIC_PREFIXES, api_operations, page_patterns

pytestmark = pytest.mark.django_db

# Path parameter -> the model whose Harbor Light row fills it ("app.Model").
MODELS = {
    "patient_id": "patients.Patient",
    "appointment_id": "scheduling.Appointment",
    "course_id": "scheduling.TreatmentCourse",
    "session_id": "treatment.TreatmentSession",
    "form_id": "treatment.RemsForm",
    "call_id": "treatment.FollowUpCall",
    "consent_id": "screening.Consent",
    "screening_id": "screening.Screening",
    "note_id": "screening.ConsultationNote",
    "schedule_id": "measures.Schedule",
    "entry_id": "inventory.LedgerEntry",
    "count_id": "inventory.CountSession",
    "line_id": "inventory.CountLine",
    "report_id": "inventory.LossReport",
    "lot_id": "inventory.Lot",
    "product_id": "inventory.Product",
    "membership_id": "accounts.Membership",
    "token_id": "accounts.ApiToken",
    "location_id": "inventory.Location",
    "room_id": "scheduling.Room",
    "closure_id": "scheduling.ClinicClosure",
    "homework_id": "integration.Homework",
    "circle_id": "integration.Circle",
    "event_id": "treatment.AdverseEvent",
    "link_id": "measures.QuestionnaireLink",
    "thread_id": "portal.Thread",
    "request_id": "portal.AppointmentRequest",
    "charge_id": "billing.Charge",
    "claim_id": "billing.Claim",
    "comment_id": "website.Comment",
    "authorization_id": "website.StoryAuthorization",
}
# Where a route's parameter means another model than the default.
BY_ROUTE = {
    ("sessions", "alert_id"): "treatment.SessionAlert",
    ("alerts", "alert_id"): "measures.Alert",
    ("patients", "entry_id"): "patients.Medication",
    ("notes", "note_id"): "integration.ProgressNote",
    ("psychotherapy-notes", "note_id"): "integration.PsychotherapyNote",
    ("adverse-event-reports", "report_id"): "treatment.AdverseEventReport",
    ("portal", "entry_id"): "integration.JournalEntry",
}
TEXT = {"kind": "medications", "item_id": "identity_confirmed", "family": "ketamine-iv-mood"}


def _harbor_id(model_label: str) -> int:
    model = apps.get_model(model_label)
    rows = model.objects.all()
    field_names = {f.name for f in model._meta.get_fields()}
    if "clinic" in field_names:
        rows = rows.filter(clinic__slug="harbor")
    elif "session" in field_names:
        rows = rows.filter(session__clinic__slug="harbor")
    elif "count" in field_names:
        rows = rows.filter(count__clinic__slug="harbor")
    elif "membership" in field_names:
        rows = rows.filter(membership__clinic__slug="harbor")
    found = rows.order_by("pk").values_list("pk", flat=True).first()
    assert found is not None, f"the demo has no Harbor Light {model_label}"
    return found


def _fill(route: str, pattern: str) -> str:
    first = route.replace("/api/v1/", "").strip("/").split("/")[0]

    def value(match: re.Match) -> str:
        name = match.group(1)
        if name in TEXT:
            return TEXT[name]
        label = BY_ROUTE.get((first, name)) or MODELS.get(name)
        if label is None:
            return "x"
        return str(_harbor_id(label))

    return re.sub(pattern, value, route)


@pytest.fixture(scope="class")
def northside(shared_demo, django_db_blocker):
    """Northside's physician, with Harbor Light's demo (and a few more objects) loaded."""
    with django_db_blocker.unblock():
        nurse = Membership.objects.select_related("user", "clinic").get(
            user__username="nurse.okafor"
        )
        ApiToken.issue(nurse, name="chair tablet")
        # The demo has no loss; one here, so its report's pages are walked too.
        lot = Lot.objects.filter(clinic=nurse.clinic, product__substance="esketamine").first()
        inventory.record_loss(
            actor=Actor(user=nurse.user, membership=nurse),
            lot=lot,
            quantity=1,
            circumstances="One device missing at the closing count.",
        )
        return Membership.objects.select_related("user").get(user__username="dr.other")


class TestAPhysicianOfNorthside:
    def test_another_clinics_physician_reaches_no_harbor_object_through_the_api(self, northside):
        _, raw = ApiToken.issue(northside, name="isolation")
        client = Client(headers={"Authorization": f"Bearer {raw}"})
        leaks = []
        for method, path, _action in api_operations():
            if not re.search(r"\{\w+_id\}", path):
                continue
            url = _fill(path, r"\{(\w+)\}")
            body = request_body(method, path)
            response = client.generic(method, url, json.dumps(body or {}), "application/json")
            if response.status_code not in (403, 404):
                leaks.append(f"{method} {path}: {response.status_code} {response.content[:200]!r}")
        assert leaks == []

    def test_another_clinics_physician_opens_no_harbor_page(self, northside):
        client = Client()
        client.force_login(northside.user)
        leaks = []
        for route, name, _view in page_patterns():
            if name in OPEN_PAGES or route.startswith(PUBLIC_PREFIXES):
                continue
            if not re.search(r"<(?:\w+:)?\w+_id>", route):
                continue
            url = "/" + _fill(route, r"<(?:\w+:)?(\w+)>")
            answers = {client.get(url).status_code, client.post(url, {}).status_code}
            if not answers <= {403, 404, 405} or answers == {405}:
                leaks.append(f"{name} {url}: {sorted(answers)}")
        assert leaks == []
