"""RSS and Atom feeds of the live articles and stories (no comment, no e-mail in them)."""

from __future__ import annotations

from datetime import datetime, time

from django.contrib.syndication.views import Feed
from django.utils import timezone
from django.utils.feedgenerator import Atom1Feed
from wagtail.models import Page, Site

from ketaclinic.website.models import ArticlePage, StoryPage


class LatestPages(Feed):
    title = "Articles and stories"
    description = "New articles and real stories from the clinic."

    def link(self) -> str:
        site = Site.objects.filter(is_default_site=True).first()
        return site.root_url + "/" if site else "/"

    def items(self) -> list[Page]:
        pages = Page.objects.live().public().type(ArticlePage, StoryPage).specific()
        return sorted(pages, key=lambda p: p.published_on, reverse=True)[:30]

    def item_title(self, item: Page) -> str:
        return item.title

    def item_description(self, item: Page) -> str:
        return item.summary or item.search_description

    def item_link(self, item: Page) -> str:
        return item.get_full_url() or item.url

    def item_pubdate(self, item: Page) -> datetime:
        return timezone.make_aware(datetime.combine(item.published_on, time(9)))

    def item_author_name(self, item: Page) -> str:
        return item.author


class LatestPagesAtom(LatestPages):
    feed_type = Atom1Feed
    subtitle = LatestPages.description
