"""What repeated dosing and the patient's history add to a protocol (pure, no Django).

- A longer minimum observation for a patient with a history flag the protocol names
  (``discharge.observation.longer_when``; esketamine: moderate hepatic impairment, the
  label asks for longer monitoring).
- Long-term monitoring (``long_term_monitoring``): urinary symptoms asked at every
  session once the induction series is over, and liver tests due at the protocol's
  interval (clinic policy: no source gives one) after the last test, or after the course
  start when none is on record.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta

from ketaclinic.clinical.protocols.schema import ChecklistItem, Protocol

__all__ = [
    "LIVER_ITEM",
    "URINARY_ITEM",
    "LiverStatus",
    "LongerObservationFor",
    "liver_status",
    "long_term_items",
    "longer_observation",
    "with_observation_minutes",
]

URINARY_ITEM = "urinary_symptoms_asked"
LIVER_ITEM = "liver_tests_current"


@dataclass(frozen=True)
class LongerObservationFor:
    """The observation minimum that applies to this patient and the flag that set it."""

    minutes: int
    history: str
    source: str
    note: str | None


def longer_observation(protocol: Protocol, history: Collection[str]) -> LongerObservationFor | None:
    """Return the longest minimum observation the patient's history asks for, or None."""
    rules = [r for r in protocol.discharge.observation.longer_when if r.history in set(history)]
    if not rules:
        return None
    rule = max(rules, key=lambda r: r.minimum_minutes)
    return LongerObservationFor(rule.minimum_minutes, rule.history, rule.source, rule.note)


def with_observation_minutes(protocol: Protocol, minutes: int | None) -> Protocol:
    """Return the protocol with its minimum observation raised to ``minutes`` (never lowered).

    The copy keeps the file text and hash of the original: it is the same protocol
    applied to one patient, not a new file.
    """
    observation = protocol.discharge.observation
    if minutes is None or minutes <= observation.minimum_minutes:
        return protocol
    discharge = protocol.discharge.model_copy(
        update={"observation": observation.model_copy(update={"minimum_minutes": minutes})}
    )
    return protocol.model_copy(update={"discharge": discharge})


def long_term_items(protocol: Protocol, *, after_induction: bool) -> tuple[ChecklistItem, ...]:
    """Return the checklist items long-term monitoring adds to a session of this protocol.

    The urinary question applies once the induction series is over; the liver-test item
    (checked by the system against the record) applies whenever the protocol sets an
    interval. Neither stops the dose: a positive answer or an overdue test is for the
    physician to weigh.
    """
    plan = protocol.long_term_monitoring
    if plan is None:
        return ()
    items = []
    urinary = plan.urinary_symptoms_after_induction
    if urinary is not None and urinary.required and after_induction:
        items.append(
            ChecklistItem(
                id=URINARY_ITEM,
                label=(
                    "Asked about urinary symptoms (pain or burning, urgency, frequency, blood in "
                    "the urine): none new. Not met = symptoms reported (describe them)"
                ),
                hard_stop=False,
                source=urinary.source,
                note=urinary.note,
            )
        )
    every = plan.liver_tests_every_days
    if every is not None and every.value > 0:
        items.append(
            ChecklistItem(
                id=LIVER_ITEM,
                label=f"Liver tests current (every {every.value} days)",
                hard_stop=False,
                source=every.source,
                note=every.note,
            )
        )
    return tuple(items)


@dataclass(frozen=True)
class LiverStatus:
    """When the next liver tests are due and whether they are due now."""

    every_days: int
    last_on: date | None
    due_on: date
    due: bool
    days_overdue: int

    @property
    def text(self) -> str:
        last = f"last on {self.last_on:%d %b %Y}" if self.last_on else "none on record"
        if self.due:
            when = "today" if self.days_overdue == 0 else f"{self.days_overdue} days ago"
            return f"Liver tests due (since {self.due_on:%d %b %Y}, {when}; {last})."
        return f"Liver tests current ({last}); next due {self.due_on:%d %b %Y}."


def liver_status(
    protocol: Protocol, *, last_test_on: date | None, course_start: date, today: date
) -> LiverStatus | None:
    """Return the liver-test status under this protocol, or None when it sets no interval.

    Due ``every_days`` after the last test on record, or after the course start when
    there is none (a baseline before the first dose is the checklist's job where a source
    asks for one: COHEN-2018 for liver risk).
    """
    plan = protocol.long_term_monitoring
    if plan is None or plan.liver_tests_every_days is None:
        return None
    every = plan.liver_tests_every_days.value
    if every <= 0:
        return None
    start = last_test_on if last_test_on is not None else course_start
    due_on = start + timedelta(days=every)
    overdue = (today - due_on).days
    return LiverStatus(
        every_days=every,
        last_on=last_test_on,
        due_on=due_on,
        due=overdue >= 0,
        days_overdue=max(overdue, 0),
    )
