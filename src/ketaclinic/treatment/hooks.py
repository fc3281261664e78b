"""Extension points a higher app registers at start-up (treatment never imports it).

The billing app proposes a visit's charge lines when its session is signed. Each hook
runs inside the signing transaction, after the signature is written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# (actor, session just signed by the nurse) -> None
SESSION_SIGNED: list[Callable[[Any, Any], None]] = []


def session_signed(actor: Any, session: Any) -> None:
    for hook in SESSION_SIGNED:
        hook(actor, session)
