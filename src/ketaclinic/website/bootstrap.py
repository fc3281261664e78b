"""Wagtail's own starting rows (a locale, the root page, the root collection).

Wagtail's migrations create them, but a database emptied after migrating (a test that
flushes its tables, a restore into a fresh schema) has none: these put them back.
"""

from __future__ import annotations

from django.conf import settings
from wagtail.models import Collection, Locale, Page


def wagtail_root() -> Page:
    """The root page (depth 1), made with its locale and the root collection if missing."""
    Locale.objects.get_or_create(language_code=settings.LANGUAGE_CODE.split("-")[0])
    if not Collection.objects.filter(depth=1).exists():
        Collection.add_root(name="Root")
    root = Page.get_first_root_node()
    if root is None:
        root = Page.add_root(instance=Page(title="Root", slug="root", live=True))
    return root
