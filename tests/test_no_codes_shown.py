"""Staff read labels, never internal codes: the demo's main pages as every role.

Codes (`ketamine-iv-mood`, `mdd`, `gad7`, `failed_adequate_trials`, alert codes ...) are
what the data files, the rules and the API use; a page shows the label the data file
gives (`IV ketamine infusion for depression`, `Major depressive disorder`, `GAD-7`).
The pages are reached the way a person reaches them: from each role's home and the main
lists, following links a few steps. Only the visible text counts (not attributes,
scripts or form values), so a code in a URL or an `<option value>` is fine.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from django.test import Client

from ketaclinic.accounts.models import Membership
from ketaclinic.clinical.conditions import CONDITIONS
from ketaclinic.clinical.eligibility import FACT_SPECS, HISTORY_FLAGS, MEDICATION_CLASSES
from ketaclinic.clinical.instruments.loader import load_instruments
from ketaclinic.clinical.protocols.loader import load_protocols
from ketaclinic.measures.models import Alert
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling.models import Appointment
from ketaclinic.screening.models import Screening
from ketaclinic.treatment.models import SessionAlert, TreatmentSession

pytestmark = pytest.mark.django_db

ROLE_USERS = {
    "admin": "admin",
    "physician": "dr.chen",
    "nurse": "nurse.okafor",
    "therapist": "therapist.rivera",
    "front_desk": "frontdesk.lee",
}
START = [
    "/home/",
    "/today/",
    "/schedule/",
    "/schedule/week/",
    "/patients/",
    "/alerts/",
    "/my-day/",
    "/treatment/board/",
]
# Pages that are not where staff work (the API's docs, the public site, exports) or that
# print codes on purpose (the audit log shows what was stored, as stored).
SKIP = re.compile(
    r"^/(api|fhir|static|media|cms|admin|audit|q|intake-link|consent-link|ics|logout)/|\.(pdf|csv|ics|json|png|svg)$"
)
MAX_PAGES = 160


def _internal_codes() -> set[str]:
    """Every code that only a machine should read (single common words are left out)."""
    codes = {p.code for p in load_protocols().values()}
    codes |= {p.family for p in load_protocols().values()}
    codes |= set(load_instruments())
    codes |= set(CONDITIONS)
    codes |= {f for f in FACT_SPECS if "_" in f}
    codes |= {f for f in HISTORY_FLAGS if "_" in f}
    codes |= {m for m in MEDICATION_CLASSES if "_" in m}
    codes |= {c for c in Alert.objects.values_list("code", flat=True) if "_" in c}
    return codes


class Visible(HTMLParser):
    """The text a person sees, and the links they can follow."""

    HIDDEN = {"script", "style", "template", "title", "head"}

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.links: list[str] = []
        self.depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.HIDDEN:
            self.depth += 1
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.links.append(href)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN and self.depth:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if not self.depth:
            self.text.append(data)


def _shown(codes: set[str], text: str) -> set[str]:
    return {c for c in codes if re.search(rf"(?<![\w./-]){re.escape(c)}(?![\w/-])", text)}


@pytest.mark.usefixtures("shared_demo")
class TestTheDemoPages:
    def test_staff_pages_show_labels_not_internal_codes(self, caplog):
        caplog.set_level(logging.CRITICAL, logger="django.request")
        codes = _internal_codes()
        assert {"ketamine-iv-mood", "mdd", "gad7", "failed_adequate_trials"} <= codes
        found = {role: _walk(role, codes) for role in ROLE_USERS}
        assert found == {role: {} for role in ROLE_USERS}, "codes shown (code: first page)"

    def test_a_session_alert_reads_as_words(self, client):
        """The chair-side alert says what happened ("High blood pressure"), not `hypertension`."""
        alert = SessionAlert.objects.filter(
            session__clinic__slug="harbor", reading__isnull=False
        ).first()
        assert alert is not None, "the demo has a session alert"
        client.force_login(Membership.objects.get(user__username="nurse.okafor").user)
        page = client.get(f"/treatment/sessions/{alert.session_id}/")
        assert page.status_code == 200
        parser = Visible()
        parser.feed(page.content.decode())
        text = " ".join(parser.text)
        assert f"· {alert.code}" not in text and f"{alert.level.upper()} {alert.code}" not in text
        assert "High blood pressure" in text or alert.code != "hypertension"


def _walk(role: str, codes: set[str]) -> dict[str, str]:
    """Each code shown to `role` and the first page it was on."""
    client = Client()
    client.force_login(
        Membership.objects.get(user__username=ROLE_USERS[role], clinic__slug="harbor").user
    )
    # The deepest pages where codes hid: each screening result, sessions with alerts,
    # appointments of a course, every chart.
    start = START + [f"/patients/{pk}/" for pk in Patient.objects.values_list("pk", flat=True)]
    start += [f"/screening/{pk}/" for pk in Screening.objects.values_list("pk", flat=True)]
    sessions = TreatmentSession.objects.filter(alerts__isnull=False).values_list("pk", flat=True)
    start += [f"/treatment/sessions/{pk}/" for pk in sessions.distinct()[:5]]
    courses = Appointment.objects.filter(course__isnull=False).values_list("pk", flat=True)
    start += [f"/schedule/appointments/{pk}/" for pk in courses[:3]]
    queue, seen, found = deque(start), set(start), {}
    pages = 0
    while queue and pages < MAX_PAGES:
        url = queue.popleft()
        response = client.get(url)
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        pages += 1
        parser = Visible()
        parser.feed(response.content.decode())
        for code in _shown(codes, " ".join(parser.text)):
            found.setdefault(code, url)
        for href in parser.links:
            path = urlsplit(urljoin(url, href)).path
            if urlsplit(href).netloc or path in seen or SKIP.search(path):
                continue
            seen.add(path)
            queue.append(path)
    assert pages > 20, f"the walk reached almost nothing as {role}"
    return found
