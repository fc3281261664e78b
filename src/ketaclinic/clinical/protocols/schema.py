"""Pydantic schema for treatment protocols (the YAML files under definitions/).

A protocol is validated completely when it loads, so dosing and monitoring code can
trust it: limits are ordered (minimum <= default <= usual maximum <= hard maximum),
the drug, route and dose rule agree, every offered concentration can measure every
dose step exactly, and every clinical number names its source.

Sources are the keys of docs/clinical-sources.md (``SPRAVATO-LABEL``, ``ANDRADE-2017`` ...) or
``policy`` for the clinic's own defaults; ``verify: true`` marks a number docs/clinical-sources.md
marks [verify]: a clinic-editable default, never a hard fact.

The vocabulary and sourced values are in ``sourced``, the dose rules in ``doses``;
this module holds the rest and names them all.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    Field,
    PrivateAttr,
    StrictBool,
    field_validator,
    model_validator,
)

from .doses import DoseRule, FixedDose, MgPerKgDose, Preparation
from .sourced import (
    _LEVEL_RANK,
    CHECKLIST_CONDITIONS,
    KNOWN_SOURCES,
    SIGNALS,
    AlertLevel,
    ChecklistCondition,
    Comparison,
    DosePhase,
    Drug,
    Family,
    KebabCode,
    Route,
    Signal,
    SnakeCode,
    Sourced,
    SourcedBase,
    SourcedInt,
    SourcedList,
    SourcedRange,
    Text,
    _check_source,
    _Model,
)

__all__ = [
    "CHECKLIST_CONDITIONS",
    "KNOWN_SOURCES",
    "SIGNALS",
    "ChairSegment",
    "CheckPlan",
    "ChecklistItem",
    "Discharge",
    "DischargeRequirement",
    "DoseRule",
    "Fasting",
    "FixedDose",
    "FollowUpCall",
    "LongTermMonitoring",
    "LongerObservation",
    "Instruction",
    "MgPerKgDose",
    "MonitoringPlan",
    "Observation",
    "Phase",
    "Preparation",
    "Protocol",
    "Sourced",
    "SourcedBase",
    "SourcedInt",
    "SourcedList",
    "SourcedRange",
    "Threshold",
    "VitalsRequirement",
]


# --- schedule -------------------------------------------------------------------


class Phase(_Model):
    """One phase of a treatment course (induction or maintenance) and its cadence."""

    code: SnakeCode
    kind: Literal["induction", "maintenance"]
    label: Text
    start_week: Annotated[int, Field(ge=1)] | None = None
    end_week: Annotated[int, Field(ge=1)] | None = None  # None = open-ended
    sessions: SourcedRange | None = None  # None = individualised
    sessions_per_week: SourcedRange | None = None
    min_hours_between_sessions: Sourced | None = None
    max_span_days: SourcedInt | None = None
    doses_mg: SourcedList | None = None  # fixed-dose protocols: doses allowed in the phase
    first_dose_mg: Sourced | None = None  # fixed-dose protocols: the first session's dose
    note: str | None = None

    @model_validator(mode="after")
    def _weeks_ordered(self) -> Phase:
        if self.start_week and self.end_week and self.start_week > self.end_week:
            raise ValueError("start_week is after end_week")
        return self


# --- monitoring -----------------------------------------------------------------


class CheckPlan(SourcedBase):
    """When one kind of check is due: at fixed minutes from dose start, then repeating."""

    kind: Literal["vitals", "moaas", "cadss6"]
    name: Text  # short label: "BP/HR/SpO2" reads as "40-minute BP/HR/SpO2"
    at_minutes: tuple[Annotated[int, Field(ge=0)], ...] = ()
    # After the last fixed minute, again every N minutes until discharge.
    repeat_every_minutes: Annotated[int, Field(gt=0)] | None = None
    before_discharge: StrictBool = False

    @model_validator(mode="after")
    def _schedule_makes_sense(self) -> CheckPlan:
        if list(self.at_minutes) != sorted(set(self.at_minutes)):
            raise ValueError("at_minutes must be ascending without repeats")
        if self.repeat_every_minutes is not None and not self.at_minutes:
            raise ValueError("repeat_every_minutes needs at least one fixed minute to start from")
        if not self.at_minutes and not self.before_discharge:
            raise ValueError("a check needs at_minutes or before_discharge")
        return self


class MonitoringPlan(_Model):
    """Which checks are due when, and the timing tolerances (clinic policy)."""

    checks: tuple[CheckPlan, ...] = Field(min_length=1)
    # A reading up to this many minutes early counts; later than this it is overdue.
    grace_minutes: SourcedInt
    # A baseline (minute-0) reading may be taken up to this long before the dose starts.
    baseline_window_minutes: SourcedInt

    @model_validator(mode="after")
    def _kinds_unique(self) -> MonitoringPlan:
        kinds = [c.kind for c in self.checks]
        if len(set(kinds)) != len(kinds):
            raise ValueError("each check kind may appear once")
        return self


class Threshold(SourcedBase):
    """One alert rule: ``signal op value`` raises ``code`` at ``level`` in the listed phases."""

    id: KebabCode
    code: SnakeCode
    signal: Signal
    op: Comparison
    value: Decimal
    level: AlertLevel
    phases: tuple[DosePhase, ...] = Field(min_length=1)
    action: Text
    # When the recheck the action asks for (the session's next reading of this signal)
    # still breaches the rule, the alert is raised again at this level and the physician
    # is notified again. None: a persisting breach is raised again at its own level.
    escalate_to: AlertLevel | None = None

    @model_validator(mode="after")
    def _escalation_is_higher(self) -> Threshold:
        if (
            self.escalate_to is not None
            and _LEVEL_RANK[self.escalate_to] <= _LEVEL_RANK[self.level]
        ):
            raise ValueError(f"threshold {self.id}: escalate_to must be above {self.level}")
        return self


class LongerObservation(SourcedBase):
    """A longer minimum observation for a patient with this history flag (docs/clinical-sources.md §2 (The facts screening reads))."""

    history: SnakeCode
    minimum_minutes: Annotated[int, Field(ge=0)]

    @field_validator("history")
    @classmethod
    def _known_flag(cls, value: str) -> str:
        from ketaclinic.clinical.eligibility.facts import HISTORY_FLAGS

        if value not in HISTORY_FLAGS:
            raise ValueError(f"unknown history flag {value!r} (DOMAIN §2)")
        return value


class Observation(SourcedBase):
    """The minimum observation time and what it is counted from."""

    minimum_minutes: Annotated[int, Field(ge=0)]
    # first_dose: from the first device / dose start; infusion_end: after the infusion stops.
    anchor: Literal["first_dose", "infusion_end"]
    # Patients with one of these history flags are observed at least this long instead.
    longer_when: tuple[LongerObservation, ...] = ()

    @model_validator(mode="after")
    def _longer_is_longer(self) -> Observation:
        for rule in self.longer_when:
            if rule.minimum_minutes <= self.minimum_minutes:
                raise ValueError(
                    f"longer_when {rule.history}: {rule.minimum_minutes} min is not longer "
                    f"than the minimum {self.minimum_minutes} min"
                )
        return self


class DischargeRequirement(SourcedBase):
    """A yes/no discharge criterion the protocol may require."""

    required: StrictBool = True


class VitalsRequirement(SourcedBase):
    """Last vitals must be recorded for these signals and raise no alert."""

    required: StrictBool = True
    signals: tuple[Signal, ...] = Field(min_length=1)


class Discharge(_Model):
    """Discharge criteria (docs/clinical-sources.md §5 (Monitoring thresholds)): all must be met or a physician overrides.

    The vitals, MOAA/S and CADSS-6 that count for discharge are the latest taken after
    the dose ended and no more than ``readings_valid_minutes`` before the decision.
    """

    observation: Observation
    readings_valid_minutes: SourcedInt
    moaas_required: SourcedInt
    dissociation_resolved: DischargeRequirement
    vitals_in_range: VitalsRequirement
    walks_steadily: DischargeRequirement
    escort_present: DischargeRequirement


# --- after the session -------------------------------------------------------------


class FollowUpCall(SourcedBase):
    """The nurse's follow-up call after every dosing session."""

    after_days: Annotated[int, Field(ge=0, le=14)]


class IntegrationPlan(SourcedBase):
    """The psychotherapy a protocol asks for around dosing (ketamine-assisted psychotherapy).

    ``preparation_sessions`` before the first dose; an integration session within
    ``within_hours`` after each of the first ``first_n`` dosing sessions, then after
    every ``then_every``-th (0 = none after the first N).
    """

    preparation_sessions: Annotated[int, Field(ge=0, le=3)] = 1
    within_hours: Annotated[int, Field(ge=12, le=336)] = 72
    first_n: Annotated[int, Field(ge=0, le=30)] = 0
    then_every: Annotated[int, Field(ge=0, le=30)] = 0


class LongTermMonitoring(_Model):
    """What repeated dosing asks for beyond one session (urinary symptoms, liver tests)."""

    # Asked at every session once the induction series is over.
    urinary_symptoms_after_induction: DischargeRequirement | None = None
    # Liver tests due this many days after the last one (or the course start).
    liver_tests_every_days: SourcedInt | None = None


# --- before the dose --------------------------------------------------------------


class ChecklistItem(SourcedBase):
    """One pre-dose check; a hard stop blocks dosing until done or overridden."""

    id: SnakeCode
    label: Text
    hard_stop: StrictBool
    # All listed conditions must hold for the item to apply (empty = always).
    applies_when: tuple[ChecklistCondition, ...] = ()


class Fasting(_Model):
    """Fasting before the dose; None where no source gives a number."""

    no_food_hours: Sourced | None = None
    no_liquids_minutes: Sourced | None = None
    note: str | None = None


class ChairSegment(SourcedBase):
    """Part of the chair time to reserve (pre-dose, dose, observation, turnover)."""

    name: SnakeCode
    minutes: Annotated[int, Field(ge=0)]


class Instruction(SourcedBase):
    """One patient instruction in plain words."""

    text: Text


# --- the protocol -------------------------------------------------------------------


class Protocol(_Model):
    """A treatment protocol: dose rule, schedule, monitoring, discharge and checklist."""

    code: KebabCode
    version: Annotated[int, Field(ge=1)]
    title: Text
    family: Family
    drug: Drug
    route: Route
    off_label: StrictBool
    summary: Text
    sources: tuple[Text, ...] = Field(min_length=1)
    dose: DoseRule
    infusion_minutes: SourcedInt | None = None
    preparation: Preparation | None = None
    phases: tuple[Phase, ...] = Field(min_length=1)
    monitoring: MonitoringPlan
    thresholds: tuple[Threshold, ...] = Field(min_length=1)
    discharge: Discharge
    checklist: tuple[ChecklistItem, ...] = Field(min_length=1)
    fasting: Fasting
    chair_minutes: tuple[ChairSegment, ...] = Field(min_length=1)
    patient_instructions: tuple[Instruction, ...] = Field(min_length=1)
    follow_up_call: FollowUpCall | None = None
    # A physician reviews the benefit when the induction series ends, before maintenance.
    end_of_induction_review: DischargeRequirement | None = None
    long_term_monitoring: LongTermMonitoring | None = None
    # Preparation and integration sessions planned and booked with the course.
    integration: IntegrationPlan | None = None
    # The indication (condition codes, all needed) a protocol is limited to; empty = any.
    requires_diagnoses: tuple[SnakeCode, ...] = ()
    # The file's text and its SHA-256, set by the loader ("" when built in code).
    _file_text: str = PrivateAttr(default="")
    _file_hash: str = PrivateAttr(default="")

    @property
    def file_text(self) -> str:
        """Return the text of the file this protocol was loaded from."""
        return self._file_text

    @property
    def file_hash(self) -> str:
        """Return the SHA-256 (hex) of the file this protocol was loaded from."""
        return self._file_hash

    @field_validator("sources")
    @classmethod
    def _sources_known(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            _check_source(value)
        return values

    @model_validator(mode="after")
    def _consistent(self) -> Protocol:
        self._check_drug_route_family()
        self._check_preparation()
        self._check_unique_ids()
        if self.discharge.observation.anchor == "infusion_end" and self.route != "iv":
            raise ValueError("only an IV protocol can count observation from the infusion end")
        return self

    def _check_drug_route_family(self) -> None:
        expected_family = {
            ("esketamine", "intranasal"): {"esketamine-nasal"},
            ("racemic_ketamine", "iv"): {"ketamine-iv-mood", "ketamine-iv-pain"},
            ("racemic_ketamine", "im"): {"ketamine-im-mood"},
        }.get((self.drug, self.route))
        if expected_family is None or self.family not in expected_family:
            raise ValueError(
                f"family {self.family!r} does not match drug {self.drug!r} by route {self.route!r}"
            )
        fixed = isinstance(self.dose, FixedDose)
        if fixed != (self.route == "intranasal"):
            raise ValueError("nasal esketamine needs a fixed_mg dose; ketamine needs mg_per_kg")
        if (self.route == "iv") != (self.infusion_minutes is not None):
            raise ValueError("infusion_minutes is required for IV protocols and only for them")
        if self.infusion_minutes is not None and self.infusion_minutes.value <= 0:
            raise ValueError("infusion_minutes must be positive")

    def _check_preparation(self) -> None:
        if isinstance(self.dose, FixedDose):
            if self.preparation is not None:
                raise ValueError("a device-based protocol has no preparation")
            return
        prep = self.preparation
        if prep is None:
            raise ValueError("a weight-based protocol needs a preparation")
        if (self.route == "iv") != (prep.rate_step_ml_per_h is not None):
            raise ValueError("rate_step_ml_per_h is required for IV protocols and only for them")
        step = self.dose.dose_step_mg.value
        for conc in prep.concentrations_mg_per_ml.values:
            # Ketalar label: the 100 mg/mL concentration must be diluted before IV use
            # (docs/clinical-sources.md §4.1 (IV racemic ketamine for depression)), so an IV protocol never offers it.
            if self.route == "iv" and conc >= 100:
                raise ValueError(f"{conc} mg/mL must be diluted before IV use")
            # Every dose step must be a whole number of measurable volume steps, so the
            # drawn volume delivers exactly the rounded dose at every offered strength.
            if step % (conc * prep.volume_step_ml.value) != 0:
                raise ValueError(
                    f"dose_step_mg {step} is not a whole number of {prep.volume_step_ml.value} mL "
                    f"steps at {conc} mg/mL"
                )
        per_hour = self.dose.hard_max_mg_per_kg_per_hour
        if per_hour is not None:
            if self.infusion_minutes is None:
                raise ValueError("hard_max_mg_per_kg_per_hour needs infusion_minutes")
            hours = Decimal(self.infusion_minutes.value) / 60
            if self.dose.hard_max_mg_per_kg.value > per_hour.value * hours:
                raise ValueError("hard_max_mg_per_kg exceeds hard_max_mg_per_kg_per_hour")

    def _check_unique_ids(self) -> None:
        for label, ids in (
            ("threshold id", [t.id for t in self.thresholds]),
            ("checklist id", [c.id for c in self.checklist]),
            ("phase code", [p.code for p in self.phases]),
            ("chair segment", [s.name for s in self.chair_minutes]),
        ):
            repeated = sorted({i for i in ids if ids.count(i) > 1})
            if repeated:
                raise ValueError(f"repeated {label}: {', '.join(repeated)}")

    @property
    def total_chair_minutes(self) -> int:
        """Return the chair minutes to reserve: the sum of all segments."""
        return sum(segment.minutes for segment in self.chair_minutes)

    def checklist_for(
        self, conditions: frozenset[str] | set[str] = frozenset()
    ) -> tuple[ChecklistItem, ...]:
        """Return the checklist items that apply when the given conditions hold."""
        unknown = set(conditions) - set(CHECKLIST_CONDITIONS)
        if unknown:
            raise ValueError(f"unknown checklist condition(s): {sorted(unknown)}")
        return tuple(
            item for item in self.checklist if all(c in conditions for c in item.applies_when)
        )
