"""Wagtail's admin at /cms/, behind the clinic's own door.

Every admin view is wrapped in `require("website.edit")`: signed in, working in a clinic,
second factor passed, and a role the table allows (editors and admins; never a patient,
never other staff). Wagtail then checks its own permissions, which come from the
"Website editors" group (`editors_group`); the door adds an allowed user to that group
and takes a refused one out of it, so the group only ever mirrors the role table.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.http import HttpRequest, HttpResponseBase
from django.views.decorators.clickjacking import xframe_options_sameorigin
from wagtail.admin import urls as wagtailadmin_urls
from wagtail.models import Collection, GroupCollectionPermission, GroupPagePermission
from wagtail.utils.urlpatterns import decorate_urlpatterns

from ketaclinic.accounts.access import current_membership, require
from ketaclinic.accounts.models import User
from ketaclinic.accounts.roles import may
from ketaclinic.website.bootstrap import wagtail_root

EDITORS_GROUP = "Website editors"


PAGE_PERMISSIONS = ["add_page", "change_page", "publish_page", "lock_page", "unlock_page"]
COLLECTION_PERMISSIONS = {
    "wagtailimages": ["add_image", "change_image", "choose_image"],
    "wagtaildocs": ["add_document", "change_document", "choose_document"],
}


def editors_group() -> Group:
    """The Wagtail group every editor and admin of the website is in (made on first use,
    when Django has created the permissions it grants)."""
    group = Group.objects.filter(name=EDITORS_GROUP).first()
    if group is not None:
        return group
    with transaction.atomic():
        group, _ = Group.objects.get_or_create(name=EDITORS_GROUP)
        group.permissions.add(
            Permission.objects.get(content_type__app_label="wagtailadmin", codename="access_admin")
        )
        root = wagtail_root()
        for codename in PAGE_PERMISSIONS:
            GroupPagePermission.objects.get_or_create(
                group=group,
                page=root,
                permission=Permission.objects.get(
                    content_type__app_label="wagtailcore", codename=codename
                ),
            )
        collection = Collection.get_first_root_node()
        for app_label, codenames in COLLECTION_PERMISSIONS.items():
            for codename in codenames:
                GroupCollectionPermission.objects.get_or_create(
                    group=group,
                    collection=collection,
                    permission=Permission.objects.get(
                        content_type__app_label=app_label, codename=codename
                    ),
                )
    return group


def _mirror_group(request: HttpRequest, user: User) -> None:
    membership = current_membership(request)
    allowed = membership is not None and may(membership.role, "website.edit")
    group = editors_group()
    in_group = user.groups.filter(pk=group.pk).exists()
    if allowed and not in_group:
        user.groups.add(group)
    elif not allowed and in_group:
        user.groups.remove(group)


View = Callable[..., HttpResponseBase]


def cms_door(view: View) -> View:
    guarded = require("website.edit")(view)

    @wraps(view)
    def door(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if isinstance(request.user, User):
            _mirror_group(request, request.user)
        return guarded(request, *args, **kwargs)

    # Wagtail's live preview shows the page in an iframe of the editor itself: allow it
    # for /cms/ only (frame-ancestors 'self' below); the public site keeps DENY/'none'.
    framed = xframe_options_sameorigin(door)
    # What tests/test_role_walk.py reads off every guarded view.
    setattr(framed, "required_action", "website.edit")  # noqa: B010 - not declared on a function
    return framed


def _csp_for_cms(view: View) -> View:
    """The CSP for /cms/ only: Wagtail's admin puts style attributes in its pages (the
    rich-text editor, panels), which style-src 'self' blocks (seen in chromium's console),
    and its preview panel frames the site itself. Scripts stay 'self' only: the inline
    scripts Wagtail would need are replaced (website/templates/wagtailadmin, cms.js)."""
    from csp.decorators import csp_replace, csp_update

    return csp_replace({"frame-ancestors": ["'self'"]})(
        csp_update({"style-src": ["'unsafe-inline'"]})(view)
    )


def _door_and_policy(view: View) -> View:
    return _csp_for_cms(cms_door(view))


urlpatterns = decorate_urlpatterns(list(wagtailadmin_urls.urlpatterns), _door_and_policy)
