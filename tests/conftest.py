"""Personas built once: a clinic with one member per role, and a physician of another clinic."""

from __future__ import annotations

import os
import tempfile
from datetime import date

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import Client, override_settings
from hypothesis import settings as hypothesis_settings

from ketaclinic import limits
from ketaclinic.accounts.models import ApiToken, Clinic, Membership
from ketaclinic.accounts.services import add_clinic, add_staff
from ketaclinic.patients.models import Patient
from tests import builders

# Property tests have no per-example deadline: on a loaded 2-core CI machine a 200 ms
# deadline fails at random without saying anything about the code.
hypothesis_settings.register_profile("ketaclinic", deadline=None)
hypothesis_settings.load_profile("ketaclinic")

PASSWORD = "correct-horse-battery"
ROLES = ["admin", "physician", "nurse", "therapist", "front_desk", "biller"]


@pytest.fixture(scope="session")
def django_db_modify_db_settings(request, django_db_modify_db_settings_parallel_suffix):
    """SQLite tests run on a file, as the clinic does: threads then queue on the write lock
    (an in-memory shared-cache database answers "table is locked" at once instead)."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        worker = getattr(request.config, "workerinput", {}).get("workerid", "main")
        name = f"ketaclinic-test-{os.getpid()}-{worker}.sqlite3"
        # In memory-backed /dev/shm where there is one: as fast as ":memory:".
        folder = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
        database.setdefault("TEST", {})["NAME"] = os.path.join(folder, name)


def pytest_configure(config):
    # The test client and the browser's live server speak plain HTTP; production redirects
    # it to HTTPS (tests/test_security_headers.py).
    from django.conf import settings

    settings.SECURE_SSL_REDIRECT = False


@pytest.fixture
def latest_schema_after(transactional_db):
    """For a test that migrates backwards: every app's latest migration again afterwards,
    pass or fail, as the worker's next tests need the whole schema (a test left
    measures_alert without its `origin` column once, and the next test on that worker
    failed in CI)."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    yield
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Argon2 is the production hasher (tested in test_settings); tests need speed.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def audit_anchor(settings, tmp_path):
    """Each test seals into an anchor file of its own, never the demo's var/."""
    settings.AUDIT_ANCHOR = tmp_path / "audit-anchor.log"
    return settings.AUDIT_ANCHOR


@pytest.fixture(autouse=True)
def no_random_tidying(monkeypatch):
    """The rate limiter deletes expired counters on a random share of new ones: never in a
    test that counts statements (tests/test_limits.py turns it on to test it)."""
    monkeypatch.setattr(limits, "TIDY_SHARE", 0.0)


@pytest.fixture(autouse=True)
def audit_synchronous(settings):
    """Tests read audit rows at once: events go straight into the database.

    Production journals them (audit/journal.py); tests/audit/test_journal.py covers that
    path, with `journal.drain()` as its flush.
    """
    settings.AUDIT_JOURNAL = False


@pytest.fixture
def clinic(db) -> Clinic:
    return add_clinic(slug="harbor", name="Harbor Light", timezone=builders.CLINIC_TZ)


@pytest.fixture
def other_clinic(db) -> Clinic:
    return add_clinic(slug="northside", name="Northside", timezone="America/Chicago")


@pytest.fixture
def staff(clinic) -> dict[str, Membership]:
    """One member per role: staff['physician'].user is Dr. Chen, and so on."""
    names = {
        "admin": ("alex", "Alex", "Morgan"),
        "physician": ("drchen", "Lena", "Chen"),
        "nurse": ("okafor", "Grace", "Okafor"),
        "therapist": ("rivera", "Sam", "Rivera"),
        "front_desk": ("lee", "Jordan", "Lee"),
        "biller": ("banks", "Robin", "Banks"),
    }
    return {
        role: add_staff(
            username=username,
            clinic=clinic,
            role=role,
            password=PASSWORD,
            first_name=first,
            last_name=last,
        )
        for role, (username, first, last) in names.items()
    }


@pytest.fixture
def outsider(other_clinic) -> Membership:
    """A physician of another clinic."""
    return add_staff(username="drnair", clinic=other_clinic, role="physician", password=PASSWORD)


@pytest.fixture
def patient(clinic) -> Patient:
    return Patient.objects.create(
        clinic=clinic,
        mrn="MRN000001",
        given_name="Maria",
        family_name="Garcia",
        birth_date=date(1984, 3, 7),
        sex_at_birth="female",
        weight_kg=70,
        height_cm=165,
        weight_measured_on=date(2026, 11, 20),
        phone="+1 207 555 0134",
    )


@pytest.fixture
def login(client):
    """login(membership) -> a test client logged in as that member."""

    def _login(membership: Membership) -> Client:
        c = Client()
        c.force_login(membership.user)
        return c

    return _login


@pytest.fixture
def api_client():
    """api_client(membership) -> a client sending that member's bearer token."""

    def _api(membership: Membership) -> Client:
        _, raw = ApiToken.issue(membership, name="test")
        return Client(headers={"Authorization": f"Bearer {raw}"})

    return _api


@pytest.fixture(scope="class")
def shared_demo(django_db_setup, django_db_blocker, tmp_path_factory):
    """The demo clinic seeded once for a class of tests (seeding takes 10 to 30 seconds).

    It is written in a transaction held open for the class and rolled back after it; each
    test runs in a savepoint inside it (pytest-django's `django_db`), so what one test
    changes is gone before the next. Not for `transaction=True` tests or the live server.
    """
    quiet = override_settings(
        AUDIT_JOURNAL=False,
        AUDIT_ANCHOR=tmp_path_factory.mktemp("demo") / "audit-anchor.log",
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
    )
    with django_db_blocker.unblock(), quiet:
        held = transaction.atomic()
        held.__enter__()
        try:
            call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
            yield
        finally:
            transaction.set_rollback(True)
            held.__exit__(None, None, None)
