"""The editors' admin: a story from a patient is not published without a valid
authorization, and the comments queue is one click away."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.templatetags.static import static
from django.utils.html import format_html
from django.utils.safestring import SafeString
from wagtail import hooks
from wagtail.admin.menu import MenuItem
from wagtail.models import Page

from ketaclinic.website.models import StoryPage


@hooks.register("before_publish_page")
def refuse_unauthorized_story(request: HttpRequest, page: Page) -> HttpResponse | None:
    """Publish pressed on a story from a patient with no valid authorization: the draft is
    kept (Wagtail saved it as a revision already), the page stays as it was."""
    specific = page.specific if not isinstance(page, StoryPage) else page
    if not isinstance(specific, StoryPage):
        return None
    refusal = specific.publication_refusal()
    if refusal is None:
        return None
    messages.error(request, f"Not published: {refusal} The draft is saved.")
    return redirect("wagtailadmin_pages:edit", specific.pk)


@hooks.register("register_admin_menu_item")
def comments_menu_item() -> MenuItem:
    return MenuItem("Comments", "/website/comments/", icon_name="comment", order=250)


@hooks.register("insert_global_admin_js")
def start_inline_widgets() -> SafeString:
    return format_html('<script src="{}"></script>', static("website/cms.js"))
