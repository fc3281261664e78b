"""The one base for every API request body: a key the schema does not know is refused.

Pydantic drops unknown keys by default, so a typo ("fact" for "facts", "dose_mg" for
"dose_mg_per_kg") would be accepted without a word and the write done without the value
the caller meant to send. Every input schema inherits `StrictIn`; the answer is a 422
naming the key (`["body", "payload", "<key>"]`), and the OpenAPI document says
`additionalProperties: false` for every request body (tests/test_api_strict_input.py).
"""

from __future__ import annotations

from ninja import Schema
from pydantic import ConfigDict


class StrictIn(Schema):
    """A request body (or a part of one) that refuses keys it does not declare."""

    model_config = ConfigDict(extra="forbid")
