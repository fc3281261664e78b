"""A small public website for the clinic: home, an article, two stories, a contact page."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from django.core.cache import cache
from wagtail.models import Page, Site

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Membership
from ketaclinic.accounts.services import add_staff
from ketaclinic.website import services
from ketaclinic.website.bootstrap import wagtail_root
from ketaclinic.website.forms import started_token
from ketaclinic.website.models import (
    ArticlePage,
    HomePage,
    StandardPage,
    StoryAuthorization,
    StoryPage,
)
from tests.conftest import PASSWORD


@dataclass
class Website:
    home: HomePage
    article: ArticlePage
    story: StoryPage
    staff_story: StoryPage
    contact: StandardPage
    authorization: StoryAuthorization


def comment_form(**fields: str) -> dict[str, str]:
    """The comment form as a person sends it, half a minute after opening the page; `fields`
    replace the defaults."""
    return {
        "name": "Jo",
        "email": "jo.visitor@reader.example",
        "website": "",
        "text": "Does it help with anxiety?",
        "homepage": "",
        "started": started_token(time.time() - 30),
        **fields,
    }


def actor(membership: Membership) -> Actor:
    return Actor(user=membership.user, membership=membership, ip="203.0.113.9")


@pytest.fixture(autouse=True)
def fresh_limits():
    cache.clear()


@pytest.fixture
def editor(clinic) -> Membership:
    return add_staff(
        username="hale",
        clinic=clinic,
        role="editor",
        password=PASSWORD,
        first_name="Robin",
        last_name="Hale",
    )


def publish(page: Page) -> None:
    page.save_revision().publish()


@pytest.fixture
def website(clinic, staff, patient) -> Website:
    root = wagtail_root()
    home = root.add_child(
        instance=HomePage(title="Harbor Light", slug="harbor-site", clinic=clinic)
    )
    publish(home)
    site = Site.objects.filter(is_default_site=True).first() or Site(
        hostname="localhost", port=80, is_default_site=True
    )
    site.root_page = home
    site.save()
    contact = home.add_child(
        instance=StandardPage(
            title="Contact", slug="contact", body="<p>Call us.</p>", show_in_menus=True
        )
    )
    publish(contact)
    article = home.add_child(
        instance=ArticlePage(
            title="What ketamine treatment involves",
            slug="what-it-involves",
            author="Dr. Chen",
            published_on=date(2026, 11, 1),
            summary="Consultation, sessions, integration.",
            body="<p>" + "word " * 450 + "</p>",
            sources="<p>Sanacora 2017.</p>",
        )
    )
    publish(article)
    authorization = services.record_authorization(
        actor=actor(staff["physician"]),
        patient=patient,
        scope="My story under a changed name.",
        signed_on=patient.clinic.today() - timedelta(days=10),
        expires_on=patient.clinic.today() + timedelta(days=300),
    )
    story = home.add_child(
        instance=StoryPage(
            title="The morning I hummed",
            slug="hummed",
            body="<p>Eleven years of depression.</p>",
            from_a_patient=True,
            authorization=authorization,
        )
    )
    publish(story)
    staff_story = home.add_child(
        instance=StoryPage(
            title="A nurse's view",
            slug="nurse-view",
            body="<p>Mostly it is quiet.</p>",
            from_a_patient=False,
        )
    )
    publish(staff_story)
    return Website(home, article, story, staff_story, contact, authorization)
