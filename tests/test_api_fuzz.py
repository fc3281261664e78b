"""Schemathesis over /api/v1/openapi.json on the demo clinic: no 5xx, no schema violation.

Every operation is fuzzed as a physician and as an admin (issue 14), twice: with any
text (NUL bytes, surrogates, unknown fields) and with plain ASCII text, whose bodies get
past the refusal of unstorable text to the handlers. Half the cases use ids of real demo
records in the path, so bodies reach the handlers instead of a 404.
Each request runs in a savepoint that is rolled back: cases stay independent and a
database error in one request cannot poison the next. Bounded: a few examples per
operation (KETACLINIC_FUZZ_EXAMPLES raises it for a longer hunt).
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.apps import apps
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ketaclinic.accounts.models import ApiToken, Membership

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("fuzz")]

EXAMPLES = int(os.environ.get("KETACLINIC_FUZZ_EXAMPLES", "12"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Path parameter -> the models whose rows it names (some names serve two routes).
PATH_MODELS = {
    "patient_id": ["patients.Patient"],
    "entry_id": ["patients.Condition", "patients.Medication", "patients.Allergy"],
    "course_id": ["scheduling.TreatmentCourse"],
    "appointment_id": ["scheduling.Appointment"],
    "membership_id": ["accounts.Membership"],
    "session_id": ["treatment.TreatmentSession"],
    "alert_id": ["measures.Alert", "treatment.SessionAlert"],
    "screening_id": ["screening.Screening"],
    "consent_id": ["screening.Consent"],
    "note_id": ["screening.ConsultationNote"],
    "form_id": ["treatment.RemsForm"],
    "authorization_id": ["website.StoryAuthorization"],
}


def _real_ids() -> dict[str, list[int]]:
    ids: dict[str, list[int]] = {}
    for name, labels in PATH_MODELS.items():
        found: list[int] = []
        for label in labels:
            found += list(apps.get_model(label).objects.order_by("pk").values_list("pk", flat=True))
        ids[name] = sorted(set(found))[:40]
    return ids


@pytest.fixture
def wsgi_app():
    # Like Django's test client: the test's connection (and its transaction) must survive
    # each request instead of being closed at the end of it.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _token(username: str) -> str:
    membership = Membership.objects.get(user__username=username, clinic__slug="harbor")
    return ApiToken.issue(membership, name="fuzz")[1]


def _fuzz(operation, headers: dict[str, str], ids: dict[str, list[int]], examples: int) -> None:
    names = [p.name for p in operation.path_parameters]
    generated = operation.as_strategy()
    if names and all(ids.get(name) for name in names):
        real = st.fixed_dictionaries({name: st.sampled_from(ids[name]) for name in names})
        strategy = st.one_of(
            generated, real.flatmap(lambda p: operation.as_strategy(path_parameters=p))
        )
    else:
        strategy = generated

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case):
        with transaction.atomic():
            response = case.call(headers=headers)
            transaction.set_rollback(True)
        case.validate_response(response, checks=CHECKS)

    run()


def test_fuzzing_the_api_finds_no_server_error_and_no_schema_violation(wsgi_app):
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    ids = _real_ids()
    headers = {name: {"Authorization": f"Bearer {_token(name)}"} for name in ("dr.chen", "admin")}
    personas = [("dr.chen", EXAMPLES), ("admin", max(2, EXAMPLES // 3))]
    failures = []
    for text in ("any", "ascii"):
        config = SchemathesisConfig.from_dict(
            {"generation": {}}
            if text == "any"
            else {
                "generation": {
                    "allow-x00": False,
                    "codec": "ascii",
                    "allow-extra-parameters": False,
                }
            }
        )
        schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", wsgi_app, config=config)
        for result in schema.get_all_operations():
            operation = result.ok()
            for username, examples in personas:
                try:
                    _fuzz(operation, headers[username], ids, examples)
                except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect them all
                    failures.append(f"{operation.label} as {username}, {text} text:\n{exc}"[:3000])
                    print(failures[-1], flush=True)  # noqa: T201 - progress of a long hunt
    assert not failures, f"{len(failures)} failing operations:\n\n" + "\n\n".join(failures)
