"""One way to put a service's refusal on a form: each message by the field it names."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django.core.exceptions import ValidationError


def error_dict(exc: ValidationError, *, general: str = "__all__") -> dict[str, list[str]]:
    """The messages of a ValidationError by field; one without fields under `general`."""
    if hasattr(exc, "error_dict"):
        return dict(exc.message_dict)
    return {general: list(exc.messages)}


def add_errors(form: Any, exc: ValidationError, *, shown: Collection[str] | None = None) -> None:
    """Add `exc`'s messages to `form` (after `is_valid()`), each on the field it names.

    A message about a field the form does not show (`shown`, default: the form's fields)
    goes on top of the form; with `shown` given it keeps the field's name, so nothing the
    service said is lost.
    """
    on_form = shown if shown is not None else form.fields
    for field, messages in error_dict(exc).items():
        if field in on_form:
            form.add_error(field, messages)
        elif field == "__all__" or shown is None:
            form.add_error(None, messages)
        else:
            form.add_error(None, [f"{field}: {m}" for m in messages])
