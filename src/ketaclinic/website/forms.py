"""The "Leave a Reply" form and the moderators' reply form."""

from __future__ import annotations

import time
from typing import Any

from django import forms
from django.conf import settings
from django.core import signing

SALT = "website.comment.started"


def started_token(now: float | None = None) -> str:
    """A signed time stamp put in the form when the page is drawn."""
    return signing.dumps(int(now if now is not None else time.time()), salt=SALT)


def filled_too_fast(token: str, now: float | None = None) -> bool:
    """True for a form sent sooner than a person could fill it (or with no valid stamp)."""
    try:
        started = int(signing.loads(token, salt=SALT, max_age=2 * 24 * 3600))
    except (signing.BadSignature, TypeError, ValueError):
        return True
    now = now if now is not None else time.time()
    return now - started < settings.WEBSITE_COMMENT_MIN_SECONDS


class CommentForm(forms.Form):
    name = forms.CharField(max_length=80, label="Name")
    email = forms.CharField(max_length=254, label="E-mail")
    website = forms.CharField(max_length=200, required=False, label="Website")
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}), label="Comment")
    # The honeypot: hidden from people (CSS and aria-hidden), filled in by form-filling bots.
    homepage = forms.CharField(required=False, label="Leave this field empty")
    started = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial["started"] = started_token()

    def bot_trapped(self) -> bool:
        return bool(self.data.get("homepage")) or filled_too_fast(self.data.get("started", ""))


class ReplyForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), label="The clinic's reply")
    privacy_checked = forms.BooleanField(
        required=False,
        label="I checked that this reply does not say or suggest that the person is a patient.",
    )


class AuthorizationForm(forms.Form):
    """A patient's signed authorization to publish their story (recorded from the chart)."""

    scope = forms.CharField(
        label="What may be published, in the patient's words",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    signed_on = forms.DateField(
        label="Signed on", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    expires_on = forms.DateField(
        label="Expires on", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
