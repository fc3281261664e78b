"""Rate limits live in a shared cache: every process and host counts against the same limit.

The database cache by default (two cache clients are two processes' views of one
table); Redis when KETACLINIC_CACHE_URL is set (127.0.0.1:6379 db 7 here; skipped when
no Redis answers). Log-ins are limited per account and per address, patient links and
public forms per address, the API per token.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import authenticate
from django.core.cache.backends.db import DatabaseCache
from django.core.cache.backends.redis import RedisCache
from django.db import connection
from django.test import Client, RequestFactory
from django.utils import timezone

from ketaclinic import limits
from ketaclinic.audit.models import AuditEvent
from tests.conftest import PASSWORD

REDIS_URL = "redis://127.0.0.1:6379/7"
# A window no test run crosses the end of (counts are per fixed window).
LONG = 10**9


def _redis_clients() -> tuple[RedisCache, RedisCache]:
    first, second = (RedisCache(REDIS_URL, {}) for _ in range(2))
    try:
        first._cache.get_client().ping()
    except Exception:  # noqa: BLE001
        pytest.skip("no Redis on 127.0.0.1:6379")
    return first, second


def test_two_processes_share_counts_through_redis():
    one, other = _redis_clients()
    assert one._cache.get_client() is not other._cache.get_client()
    key = f"test:{uuid.uuid4()}"
    assert [limits.hit(key, LONG, cache=c) for c in (one, other, one, other)] == [1, 2, 3, 4]
    assert limits.count(key, LONG, cache=other) == 4
    assert limits.limited_after_hit(key, 5, LONG, cache=one) is False
    assert limits.limited_after_hit(key, 5, LONG, cache=other) is True


@pytest.mark.django_db
def test_two_processes_share_counts_through_the_database_cache():
    one, other = (DatabaseCache("ketaclinic_cache", {}) for _ in range(2))
    key = f"test:{uuid.uuid4()}"
    assert [limits.hit(key, LONG, cache=c) for c in (one, other, one)] == [1, 2, 3]
    assert limits.count(key, LONG, cache=other) == 3


@pytest.mark.django_db
def test_a_new_counter_may_delete_the_expired_ones_and_never_a_live_one(monkeypatch):
    cache = DatabaseCache("ketaclinic_cache", {})
    live, old = f"test:{uuid.uuid4()}", f"test:{uuid.uuid4()}"
    limits.hit(live, LONG, cache=cache)
    limits.hit(old, 1, cache=cache)
    table = cache.cache_model_class._meta.db_table
    with connection.cursor() as cursor:  # the short window's counter has expired
        cursor.execute(f"UPDATE {table} SET expires = %s WHERE cache_key LIKE %s",
                       [connection.ops.adapt_datetimefield_value(timezone.now() - timedelta(seconds=5)),
                        f"limit:{old}:%"])  # fmt: skip
    monkeypatch.setattr(limits, "TIDY_SHARE", 1.0)  # every new counter tidies
    limits.hit(f"test:{uuid.uuid4()}", LONG, cache=cache)
    assert limits.count(live, LONG, cache=cache) == 1
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE cache_key LIKE %s", [f"limit:{old}:%"])
        assert cursor.fetchone()[0] == 0


def test_the_default_cache_is_the_database_unless_a_cache_url_is_set(settings):
    assert settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.db.DatabaseCache"


@pytest.mark.django_db(transaction=True)
def test_concurrent_hits_on_the_database_cache_are_all_counted():
    """The database cache's own incr reads and writes back; ours takes a lock first."""
    import threading

    from django.db import connection

    if connection.vendor == "sqlite":
        pytest.skip("the in-memory test database serialises threads by failing them")

    key = f"test:{uuid.uuid4()}"
    errors = []

    def worker():
        try:
            for _ in range(10):
                limits.hit(key, LONG)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert limits.count(key, LONG) == 40


# ---------------------------------------------------------------------------- log-in


def _fail(client: Client, username: str, address: str) -> None:
    client.post("/login/", {"username": username, "password": "wrong"}, REMOTE_ADDR=address)


@pytest.mark.django_db
def test_one_address_spraying_many_accounts_is_stopped(client, staff, settings):
    settings.LOGIN_FAILURES_PER_ADDRESS = 4
    for username in ["alex", "drchen", "okafor", "rivera"]:
        _fail(client, username, "203.0.113.9")
    # The right password of a fifth account, from that address, does not get in ...
    response = client.post(
        "/login/", {"username": "lee", "password": PASSWORD}, REMOTE_ADDR="203.0.113.9"
    )
    assert response.status_code == 200 and "_auth_user_id" not in client.session
    assert not AuditEvent.objects.filter(action="login").exists()
    # ... from another address it does.
    other = Client()
    other.post("/login/", {"username": "lee", "password": PASSWORD}, REMOTE_ADDR="198.51.100.2")
    assert "_auth_user_id" in other.session


@pytest.mark.django_db
def test_one_account_guessed_from_many_addresses_is_stopped(client, staff, settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    for n in range(3):
        _fail(Client(), "okafor", f"198.51.100.{n + 10}")
    fresh = RequestFactory().post("/login/", REMOTE_ADDR="192.0.2.77")
    assert authenticate(fresh, username="okafor", password=PASSWORD) is None
    assert authenticate(fresh, username="lee", password=PASSWORD) is not None


# ------------------------------------------------------------------------------- API


@pytest.mark.django_db
def test_the_api_is_limited_per_token(api_client, staff, settings):
    settings.API_REQUESTS_PER_MINUTE = 3
    client = api_client(staff["nurse"])
    statuses = [client.get("/api/v1/patients").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = client.get("/api/v1/patients")
    assert response.status_code == 429
    assert response.json() == {
        "detail": "Too many requests with this token: wait a minute and retry."
    }
    # Another token of the same person counts on its own.
    assert api_client(staff["nurse"]).get("/api/v1/patients").status_code == 200


# ------------------------------------------------------------------ links and forms


@pytest.mark.django_db
def test_link_guesses_from_one_address_stop_at_the_limit_across_processes(client, settings):
    """The documented 60 guesses per address hold even when each guess hits another process."""
    from ketaclinic.measures import views

    statuses = [
        Client().get(f"/q/guess-{n}/", REMOTE_ADDR="203.0.113.50").status_code
        for n in range(views.RATE_PER_IP + 5)
    ]
    assert statuses.count(429) == 5
    assert statuses[: views.RATE_PER_IP].count(429) == 0
