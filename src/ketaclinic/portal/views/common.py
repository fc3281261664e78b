"""What the portal's pages share."""

from __future__ import annotations

from django.core.exceptions import ValidationError

PAST_LIMIT = 20
LIST = 50


def errors_of(exc: ValidationError) -> dict[str, str]:
    if hasattr(exc, "error_dict"):
        return {field: " ".join(msgs) for field, msgs in exc.message_dict.items()}
    return {"__all__": " ".join(exc.messages)}
