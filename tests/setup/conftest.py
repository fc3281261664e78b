"""The scheduling tests' small floor (three chairs, a consult room, Mon-Fri) is reused here."""

from tests.scheduling.conftest import course, floor, no_gate  # noqa: F401
