"""Every page and API route, for every role, a member of another clinic and an anonymous user.

The expected answer comes from the role table (accounts/roles.py) and the action each
view or route declares; a view or route that declares none fails here until it does.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from ketaclinic.accounts.roles import may
from ketaclinic.api import api
from tests.conftest import ROLES

pytestmark = pytest.mark.django_db

# Pages that need no role: the log-in flow, and links for patients (their token is the key).
OPEN_PAGES = {"login", "logout", "home", "choose_clinic", "two_factor", "healthz", "readyz"}
# Set-up: the recovery codes shown once after enrolment, and the e-mailed password link.
OPEN_PAGES |= {"two_factor_recovery", "password_reset_confirm"}
# The patient portal's invitation link (its single-use token is the key).
OPEN_PAGES |= {"portal_invite_accept"}
# A patient's e-mailed sign-in link (asked for, then used), and the code after signing in.
OPEN_PAGES |= {"portal_sign_in", "portal_sign_in_link", "portal_sign_in_code"}
PUBLIC_PREFIXES = ("q/", "intake-link/", "consent-link/", "ics/", "outcomes/published/")
# The public website (issue 18): its pages, comments, feeds, sitemap and robots.txt.
PUBLIC_PREFIXES += ("comments/", "feed/", "robots.txt", "sitemap.xml", "_util/")
# Its images (Wagtail's originals and renditions; no other uploaded file).
PUBLIC_PREFIXES += ("media/original_images/", "media/images/")
OPEN_PAGES |= {"wagtail_serve", "wagtailcore_login", "wagtailcore_authenticate_with_password"}
MISSING_ID = 999_999


def page_patterns():
    """(route, name, view) for every page URL outside the API."""

    def walk(patterns, prefix=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                yield prefix + str(p.pattern), p.name, p.callback

    for route, name, view in walk(get_resolver().url_patterns):
        # fhir/: tests/interop walks it; cms/ (Wagtail's admin): tests/website/test_cms_access.py
        if route.startswith(("api/", "static/", "fhir/", "cms/")):
            continue
        yield route, name, view


def fill(route: str, patient_id: int) -> str:
    def value(match: re.Match) -> str:
        converter, name = match.group(1) or "str", match.group(2)
        if name == "patient_id":
            return str(patient_id)
        if name == "kind":
            return "condition"
        return str(MISSING_ID) if converter == "int" else "x"

    return "/" + re.sub(r"<(?:(\w+):)?(\w+)>", value, route)


def test_every_page_declares_its_action():
    undeclared = [
        name
        for route, name, view in page_patterns()
        if name not in OPEN_PAGES
        and not route.startswith(PUBLIC_PREFIXES)
        and not getattr(view, "required_action", None)
    ]
    assert undeclared == []


def _pages():
    return [
        (route, name, view.required_action)
        for route, name, view in page_patterns()
        if getattr(view, "required_action", None)
    ]


@pytest.mark.parametrize(("route", "name", "action"), _pages(), ids=[p[1] for p in _pages()])
def test_pages_answer_each_role_as_the_role_table_says(
    route, name, action, staff, outsider, patient
):
    url = fill(route, patient.pk)
    for role in ROLES:
        client = Client()
        client.force_login(staff[role].user)
        answers = {client.get(url).status_code, client.post(url, {}).status_code}
        if may(role, action):
            assert 403 not in answers, f"{role} refused {name} ({action})"
        else:
            assert 403 in answers and answers <= {403, 405}, f"{role} allowed {name} ({action})"
    anonymous = Client().get(url)
    assert anonymous.status_code in (302, 405)
    if anonymous.status_code == 302:
        assert anonymous.url.startswith("/login/")
    if "patient_id" in route:
        other = Client()
        other.force_login(outsider.user)
        assert other.get(url).status_code in (403, 404, 405)


def api_operations():
    """(method, path, action) for every API operation."""
    found = []
    for prefix, router in api._routers:
        for path, path_view in router.path_operations.items():
            for operation in path_view.operations:
                actions = [getattr(cb, "action", None) for cb in operation.auth_callbacks]
                full = (
                    "/api/v1/"
                    + (prefix.strip("/") + "/" if prefix.strip("/") else "")
                    + path.lstrip("/")
                )
                for method in operation.methods:
                    found.append((method, full.rstrip("/"), actions[0] if actions else None))
    return found


def test_every_api_route_declares_its_action():
    assert [(m, p) for m, p, action in api_operations() if not action] == []


@pytest.mark.parametrize(
    ("method", "path", "action"), api_operations(), ids=[f"{m} {p}" for m, p, _ in api_operations()]
)
def test_api_answers_each_role_as_the_role_table_says(
    method, path, action, staff, outsider, patient, api_client
):
    if action == "public":
        # Published outcomes answer everyone alike (tests/outcomes/test_publication.py).
        assert Client().generic(method, path).status_code in (200, 404, 422)
        return
    url = re.sub(
        r"\{(\w+)\}", lambda m: str(patient.pk if m.group(1) == "patient_id" else MISSING_ID), path
    )
    for role in ROLES:
        response = api_client(staff[role]).generic(
            method, url, "{}", content_type="application/json"
        )
        if may(role, action):
            assert response.status_code not in (401, 403), f"{role} refused {method} {path}"
        else:
            assert response.status_code == 403, f"{role} allowed {method} {path}"
            assert "detail" in response.json()
    assert Client().generic(method, url).status_code == 401
    if "{patient_id}" in path and may("physician", action):
        response = api_client(outsider).generic(method, url, "{}", content_type="application/json")
        assert response.status_code in (404, 422)
