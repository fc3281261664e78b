"""What a treatment course still needs before it may start (called by scheduling).

Contract (implemented by the screening capability):

    missing_for_course(*, patient, family: str, on: date) -> list[str]

returns plain-language items that are missing for `patient` to start a course of
the protocol `family` ("esketamine-nasal", "ketamine-iv-mood", "ketamine-im-mood",
"ketamine-iv-pain") on day `on`: an accepted (or overridden) eligibility evaluation
for that family, a valid (signed, unexpired, not withdrawn) consent for that family,
and for esketamine the REMS patient enrollment. An empty list means nothing is missing.
"""

from __future__ import annotations

from datetime import date

from ketaclinic.patients.models import Patient


def missing_for_course(*, patient: Patient, family: str, on: date) -> list[str]:
    raise NotImplementedError("screening capability: implement the course gate")
