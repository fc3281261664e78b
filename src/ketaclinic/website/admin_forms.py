"""The editors' form for a story: publishing is refused without a valid authorization."""

from __future__ import annotations

from typing import Any

from wagtail.admin.forms import WagtailAdminPageForm


class StoryPageForm(WagtailAdminPageForm):
    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.instance.pk is None and "action-publish" not in self.data:
            # A new page saved as a draft: Wagtail makes it not live when it saves it;
            # say so now, so that the model's check for live stories does not apply.
            self.instance.live = False
        return cleaned
