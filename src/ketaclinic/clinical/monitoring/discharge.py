"""Whether a patient may be discharged, and from when. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..protocols.schema import Protocol
from .vitals import PLAUSIBLE_RANGES, _require_aware, check_plausible, vital_alerts


@dataclass(frozen=True, slots=True)
class UnmetCriterion:
    """A discharge criterion not yet met."""

    # observation_time | sedation | dissociation | vitals | respiratory_depression | gait | escort
    code: str
    message: str


# --- plausibility ---------------------------------------------------------------


def earliest_discharge_at(
    protocol: Protocol, *, dose_started_at: datetime, infusion_ended_at: datetime | None = None
) -> datetime:
    """Return when the minimum observation ends (planned infusion end if not yet ended)."""
    _require_aware("dose_started_at", dose_started_at)
    _require_aware("infusion_ended_at", infusion_ended_at)
    observation = protocol.discharge.observation
    anchor = dose_started_at
    if observation.anchor == "infusion_end":
        if infusion_ended_at is not None:
            anchor = infusion_ended_at
        elif protocol.infusion_minutes is not None:
            anchor = dose_started_at + timedelta(minutes=protocol.infusion_minutes.value)
    return anchor + timedelta(minutes=observation.minimum_minutes)


def _minutes(delta: timedelta) -> str:
    """Return a duration as whole minutes, rounded down (119 min 59 s is 119)."""
    return str(int(delta.total_seconds() // 60))


def _clock(moment: datetime, now: datetime) -> str:
    """A moment as the clock shows it in `now`'s time zone (the caller's clinic): "14:05",
    with the date when it is not today ("14:05 on 7 Dec")."""
    local = moment.astimezone(now.tzinfo)
    if local.date() == now.date():
        return f"{local:%H:%M}"
    return f"{local:%H:%M} on {local.day} {local:%b}"


def discharge_check(
    protocol: Protocol,
    *,
    first_dose_at: datetime,
    infusion_ended_at: datetime | None,
    dose_ended_at: datetime | None,
    now: datetime,
    last_vitals: Mapping[str, object] | None,
    last_vitals_at: datetime | None,
    last_moaas: int | None,
    last_moaas_at: datetime | None,
    last_cadss6_at: datetime | None,
    dissociation_resolved: bool | None,
    respiratory_depression: bool | None,
    walks_steadily: bool | None,
    escort_present: bool | None,
) -> list[UnmetCriterion]:
    """Return the discharge criteria not met; an empty list means the patient may go.

    ``None`` for any finding means "not assessed" and counts as unmet. The vitals,
    MOAA/S and CADSS-6 that count are the latest ones, each with the time it was taken:
    they must be taken after the dose ended (``dose_ended_at``: the infusion stopped or
    the devices were given), no more than the protocol's ``readings_valid_minutes``
    before ``now``, and, where the protocol plans a before-discharge check of that kind,
    no earlier than that check's due time (the end of the minimum observation, less
    the grace). Vitals must include every signal the protocol lists and raise no alert
    (during-session thresholds); MOAA/S in ``last_vitals`` is ignored in favour of
    ``last_moaas``. Respiratory depression recorded in the session is unmet until a
    physician overrides.
    """
    for name, value in (
        ("first_dose_at", first_dose_at),
        ("infusion_ended_at", infusion_ended_at),
        ("dose_ended_at", dose_ended_at),
        ("now", now),
        ("last_vitals_at", last_vitals_at),
        ("last_moaas_at", last_moaas_at),
        ("last_cadss6_at", last_cadss6_at),
    ):
        _require_aware(name, value)
    if now < first_dose_at:
        raise ValueError("now is before the first dose")
    if last_vitals is not None and last_vitals_at is None:
        raise ValueError("last_vitals needs last_vitals_at")
    if last_moaas is not None and last_moaas_at is None:
        raise ValueError("last_moaas needs last_moaas_at")
    criteria = protocol.discharge
    unmet: list[UnmetCriterion] = []

    observation = criteria.observation
    needed = timedelta(minutes=observation.minimum_minutes)
    if observation.anchor == "infusion_end" and infusion_ended_at is None:
        unmet.append(
            UnmetCriterion(
                "observation_time",
                f"The infusion has not ended; observation lasts {observation.minimum_minutes} "
                "minutes after it ends.",
            )
        )
    else:
        anchor = infusion_ended_at if observation.anchor == "infusion_end" else first_dose_at
        assert anchor is not None
        elapsed = now - anchor
        if elapsed < needed:
            what = (
                "the infusion ended" if observation.anchor == "infusion_end" else "the first dose"
            )
            unmet.append(
                UnmetCriterion(
                    "observation_time",
                    f"Observed {_minutes(elapsed)} of {observation.minimum_minutes} minutes since "
                    f"{what}; earliest discharge at {_clock(anchor + needed, now)}.",
                )
            )

    fresh = _Freshness(
        protocol,
        dose_ended_at=dose_ended_at or infusion_ended_at or first_dose_at,
        now=now,
        discharge_at=earliest_discharge_at(
            protocol, dose_started_at=first_dose_at, infusion_ended_at=infusion_ended_at
        ),
    )

    required_moaas = criteria.moaas_required.value
    sedation = [fresh.problem("moaas", "MOAA/S", last_moaas_at)]
    if last_moaas is not None:
        check_plausible({"moaas": last_moaas})
        if last_moaas != required_moaas:
            sedation.append(f"MOAA/S is {last_moaas}; {required_moaas} (fully alert) is required.")
    _add(unmet, "sedation", sedation)

    dissociation = []
    if any(check.kind == "cadss6" for check in protocol.monitoring.checks):
        dissociation.append(fresh.problem("cadss6", "CADSS-6", last_cadss6_at))
    if criteria.dissociation_resolved.required and dissociation_resolved is not True:
        state = "not assessed" if dissociation_resolved is None else "not resolved"
        dissociation.append(f"Dissociation {state}.")
    _add(unmet, "dissociation", dissociation)

    vitals_rule = criteria.vitals_in_range
    if vitals_rule.required:
        vitals = [fresh.problem("vitals", "Vital signs", last_vitals_at)]
        if last_vitals is not None:
            vitals.append(_vitals_problem(protocol, vitals_rule.signals, last_vitals))
        _add(unmet, "vitals", vitals)

    if respiratory_depression is True:
        unmet.append(
            UnmetCriterion(
                "respiratory_depression",
                "Respiratory depression was recorded in this session: a physician reviews the "
                "patient before discharge.",
            )
        )

    if criteria.walks_steadily.required and walks_steadily is not True:
        state = "not assessed" if walks_steadily is None else "not steady"
        unmet.append(UnmetCriterion("gait", f"Walking {state}."))

    if criteria.escort_present.required and escort_present is not True:
        unmet.append(UnmetCriterion("escort", "No escort is present to take the patient home."))
    return unmet


def _add(unmet: list[UnmetCriterion], code: str, problems: Sequence[str | None]) -> None:
    """Append one criterion for ``code`` with every problem found, if any."""
    found = [p for p in problems if p]
    if found:
        unmet.append(UnmetCriterion(code, " ".join(found)))


@dataclass(frozen=True, slots=True)
class _Freshness:
    """Whether the latest check of a kind still counts for discharge."""

    protocol: Protocol
    dose_ended_at: datetime
    now: datetime
    discharge_at: datetime

    def problem(self, kind: str, label: str, taken_at: datetime | None) -> str | None:
        """Return why the check taken at ``taken_at`` does not count, or None if it does."""
        valid = self.protocol.discharge.readings_valid_minutes.value
        if taken_at is None:
            return f"{label}: not recorded since the dose ended."
        if taken_at < self.dose_ended_at:
            return f"{label}: last recorded before the dose ended; record again."
        age = self.now - taken_at
        if age > timedelta(minutes=valid):
            return (
                f"{label}: last recorded {_minutes(age)} minutes ago; they count for {valid} "
                "minutes, record again."
            )
        plan = self.protocol.monitoring
        planned = any(c.kind == kind and c.before_discharge for c in plan.checks)
        grace = timedelta(minutes=plan.grace_minutes.value)
        if planned and taken_at < self.discharge_at - grace:
            return (
                f"{label}: the before-discharge check is still due (the last was taken before "
                "the minimum observation ended)."
            )
        return None


def _vitals_problem(
    protocol: Protocol, signals: Sequence[str], last_vitals: Mapping[str, object]
) -> str | None:
    """Return why the last vitals' values do not allow discharge, or None if they do."""
    vitals = {k: v for k, v in last_vitals.items() if k != "moaas"}
    missing = [s for s in signals if vitals.get(s) is None]
    alerts = vital_alerts(protocol, vitals, phase="during")
    parts = []
    if missing:
        labels = ", ".join(PLAUSIBLE_RANGES[s].label for s in missing)
        parts.append(f"Not recorded before discharge: {labels}.")
    parts.extend(alert.message[0].upper() + alert.message[1:] for alert in alerts)
    return " ".join(parts) or None


# --- esketamine devices -----------------------------------------------------------------
