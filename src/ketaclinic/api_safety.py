"""What every API request must pass before its handler runs, and the errors it documents.

Values the database cannot hold are refused here, once for every route, instead of in
each schema: a NUL character (PostgreSQL text refuses it), text that is not valid
Unicode (a lone surrogate cannot be encoded), numbers beyond a 64-bit integer (no column
holds them), dates at the ends of the calendar (arithmetic on them overflows) and ids in
the path beyond one (no record has them, so 404). `Allow` calls
`refuse_unstorable` after the role check, so a role that may not act still gets 403
whatever it sends. Narrower bounds (a heart rate, a quantity) belong to each schema.
"""

from __future__ import annotations

import json
import math
import re
from datetime import time
from typing import Annotated, Any

from django.http import Http404, HttpRequest
from ninja import Schema
from ninja.errors import ValidationError
from ninja.pagination import PageNumberPagination
from pydantic import AfterValidator, Field, WithJsonSchema

INT64_MAX = 2**63 - 1
INTEGER = re.compile(r"^[+-]?\d+$")
NUL = "must not contain a NUL character"
NOT_UNICODE = "must be valid Unicode text"
TOO_LARGE = "is too large"
# A date (or date and time) in ISO form, anywhere in a query or body. Calendar arithmetic
# near year 1 or 9999 (the next day, a change of time zone) overflows Python's dates, and
# no clinic records anything outside these years.
ISO_DATE = re.compile(r"^(\d{4})-\d{2}-\d{2}([T ]\d{2}:\d{2}.*)?$")
YEARS = (1900, 2999)
OUT_OF_YEARS = f"must be a date between {YEARS[0]} and {YEARS[1]}"
# An id in a query or body filter: larger ones name no record and overflow the column.
RecordId = Annotated[int, Field(ge=-INT64_MAX, le=INT64_MAX)]


def _local(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError("must be a time of day in the clinic's time zone, without an offset")
    return value


# A time of day in the clinic's zone ("09:30"). JSON Schema's `format: time` is RFC 3339's
# full-time, which requires an offset; such a time has no meaning without a date.
LocalTime = Annotated[
    time,
    AfterValidator(_local),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$",
            "examples": ["09:30"],
        }
    ),
]
# No list has a million pages; a larger page number would overflow the row offset.
PageNumber = Annotated[int, Field(ge=1, le=1_000_000)]


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return NUL
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return NOT_UNICODE
    date = ISO_DATE.match(text)
    if date and not YEARS[0] <= int(date.group(1)) <= YEARS[1]:
        return OUT_OF_YEARS
    return None


def _value_problems(value: Any, loc: list[str | int]) -> list[dict[str, Any]]:
    """Errors for every unstorable string, key or number inside a parsed JSON value.

    Walked with a stack, not recursion: a deeply nested body must not exhaust Python's.
    """
    errors = []
    stack: list[tuple[Any, list[str | int]]] = [(value, loc)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            problem = _text_problem(item)
            if problem is not None:
                errors.append(_error(where, problem))
        elif isinstance(item, bool):
            continue
        elif isinstance(item, int | float):
            if not (math.isfinite(item) and abs(item) <= INT64_MAX):
                errors.append(_error(where, TOO_LARGE))
        elif isinstance(item, dict):
            for key, inner in item.items():
                problem = _text_problem(key)
                if problem is not None:
                    errors.append(
                        _error([*where, key.encode("utf-8", "replace").decode()], problem)
                    )
                else:
                    stack.append((inner, [*where, key]))
        elif isinstance(item, list):
            stack.extend((inner, [*where, index]) for index, inner in enumerate(item))
    return sorted(errors, key=lambda e: [str(part) for part in e["loc"]])


def _error(loc: list[str | int], msg: str) -> dict[str, Any]:
    return {"type": "value_error", "loc": loc, "msg": msg}


def _parsed_body(request: HttpRequest) -> Any:
    if not request.content_type or "json" not in request.content_type:
        return None
    body = request.body  # RequestDataTooBig here answers 413 (api.py)
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None  # ninja answers the unparseable body with its own 400


def refuse_unstorable(request: HttpRequest) -> None:
    """Raise Http404 for an impossible id in the path, a 422 naming each unstorable value."""
    match = request.resolver_match
    for value in (match.kwargs if match else {}).values():
        text = str(value)
        if _text_problem(text) or (INTEGER.match(text) and abs(int(text)) > INT64_MAX):
            raise Http404("No such record.")
    errors = []
    for key, values in request.GET.lists():
        for value in (key, *values):
            problem = _text_problem(value)
            if problem is not None:
                errors.append(_error(["query", key.replace("\x00", "")], problem))
                break
    errors += _value_problems(_parsed_body(request), ["body"])
    if errors:
        raise ValidationError(errors)


class PageNumbers(PageNumberPagination):
    """Page numbers bounded so that the row offset fits the database's integer."""

    class Input(Schema):
        page: PageNumber = 1
        page_size: int | None = Field(None, ge=1)


class ErrorOut(Schema):
    detail: str


class FieldError(Schema):
    loc: list[str | int]
    msg: str


class InvalidOut(Schema):
    detail: list[FieldError]


ERRORS = {
    401: ErrorOut,  # no or an unknown credential
    403: ErrorOut,  # the role table refuses the action, or the session's CSRF check failed
    404: ErrorOut,  # a record named by the request is not in the caller's clinic
    413: ErrorOut,  # the body is larger than DATA_UPLOAD_MAX_MEMORY_SIZE
    422: InvalidOut,  # the input, field by field
}


def document_errors(api: Any) -> None:
    """Add the error answers each route really gives to its OpenAPI responses.

    Every route authenticates (401) and checks the role table (403). A route that takes
    any input can refuse it (422) and can name a record that is not there (404); one
    with a body can be sent too much (413). A route's own 409 stays as it declared it.
    """
    for _prefix, router in api._routers:
        for path_view in router.path_operations.values():
            for operation in path_view.operations:
                models = operation.models
                takes_input = any(m.__ninja_param_source__ != "header" for m in models)
                has_body = any(m.__ninja_param_source__ == "body" for m in models)
                codes = (
                    [401, 403] + ([404, 422] if takes_input else []) + ([413] if has_body else [])
                )
                for code in codes:
                    if code not in operation.response_models:
                        operation.response_models[code] = operation._create_response_model(
                            ERRORS[code]
                        )
