"""Pydantic schema for treatment protocols (the YAML files under definitions/).

A protocol is validated completely when it loads, so dosing and monitoring code can
trust it: limits are ordered (minimum <= default <= usual maximum <= hard maximum),
the drug, route and dose rule agree, every offered concentration can measure every
dose step exactly, and every clinical number names its source.

Sources are the keys of DOMAIN.md (``SPRAVATO-LABEL``, ``ANDRADE-2017`` ...) or
``policy`` for the clinic's own defaults; ``verify: true`` marks a number DOMAIN.md
marks [verify]: a clinic-editable default, never a hard fact.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    field_validator,
    model_validator,
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

# The source keys of DOMAIN.md (and the sub-keys of clinical-sources.md it names).
# A typo in a data file must fail loudly, so an unknown key is a validation error.
KNOWN_SOURCES: frozenset[str] = frozenset(
    {
        "policy",
        "SPRAVATO-LABEL",
        "PI-CUR",
        "PI-2019",
        "HCP-DOSE",
        "MIMS-HK",
        "OPENFDA-NDC",
        "JNJ-SED",
        "JNJ-DISS",
        "SPRAVATO-REMS",
        "REMS-OUT",
        "REMS-PT",
        "PMF",
        "FDA-REMS",
        "APA-2017",
        "ANDRADE-2017",
        "FAVA-2020",
        "CANMAT-2021",
        "ASKP3",
        "COHEN-2018",
        "YALE-2024",
        "EMORY-684",
        "SZARMACH-2020",
        "IMMPACT",
    }
)

Signal = Literal[
    "systolic_bp",
    "diastolic_bp",
    "heart_rate",
    "spo2",
    "respiratory_rate",
    "temperature_c",
    "moaas",
]
SIGNALS: tuple[str, ...] = (
    "systolic_bp",
    "diastolic_bp",
    "heart_rate",
    "spo2",
    "respiratory_rate",
    "temperature_c",
    "moaas",
)
# Patient circumstances a checklist item can depend on; the caller says which hold.
ChecklistCondition = Literal[
    "pregnancy_possible", "first_session", "cardiovascular_risk", "liver_risk", "after_induction"
]
CHECKLIST_CONDITIONS: tuple[str, ...] = (
    "pregnancy_possible",
    "first_session",
    "cardiovascular_risk",
    "liver_risk",
    "after_induction",
)

Family = Literal["esketamine-nasal", "ketamine-iv-mood", "ketamine-im-mood", "ketamine-iv-pain"]
Drug = Literal["racemic_ketamine", "esketamine"]
Route = Literal["iv", "intranasal", "im"]
WeightBasis = Literal["actual", "ideal", "adjusted"]
AlertLevel = Literal["caution", "high", "urgent"]
_LEVEL_RANK = {"caution": 1, "high": 2, "urgent": 3}
Comparison = Literal[">", ">=", "<", "<="]
DosePhase = Literal["pre_dose", "during"]

KebabCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")]
SnakeCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
Text = Annotated[str, Field(min_length=1)]
PositiveDecimal = Annotated[Decimal, Field(gt=0)]


def _check_source(value: str) -> str:
    """Return the source string unchanged after checking every key in it is known."""
    keys = [part.strip() for part in value.replace(";", ",").split(",")]
    unknown = [key for key in keys if key not in KNOWN_SOURCES]
    if not keys or unknown:
        raise ValueError(
            f"unknown source key(s) {unknown or [value]!r}; use keys from DOMAIN.md or 'policy'"
        )
    return value


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SourcedBase(_Model):
    """Where a value comes from: a DOMAIN.md key (or 'policy'), [verify], and a note."""

    source: Text
    verify: StrictBool = False
    note: str | None = None

    @field_validator("source")
    @classmethod
    def _source_is_known(cls, value: str) -> str:
        return _check_source(value)


class Sourced(SourcedBase):
    """A positive decimal number with its source."""

    value: PositiveDecimal


class SourcedInt(SourcedBase):
    """A non-negative whole number (minutes, days, counts) with its source."""

    value: Annotated[int, Field(ge=0)]


class SourcedList(SourcedBase):
    """A list of positive numbers (allowed doses, concentrations) with one source."""

    values: tuple[PositiveDecimal, ...] = Field(min_length=1)

    @field_validator("values")
    @classmethod
    def _values_are_unique(cls, values: tuple[Decimal, ...]) -> tuple[Decimal, ...]:
        if len(set(values)) != len(values):
            raise ValueError("values repeat")
        return values


class SourcedRange(SourcedBase):
    """An inclusive range where either end may be open (None)."""

    min: Annotated[Decimal, Field(ge=0)] | None = None
    max: Annotated[Decimal, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> SourcedRange:
        if self.min is None and self.max is None:
            raise ValueError("a range needs a min, a max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("range min is above max")
        return self


# --- dose rules ---------------------------------------------------------------


class MgPerKgDose(_Model):
    """A weight-based dose: mg per kg of the chosen dosing weight.

    Limits: below ``min_mg_per_kg`` or above ``hard_max_mg_per_kg`` (or ``hard_max_mg``,
    or ``hard_max_mg_per_kg_per_hour`` over the infusion) the calculator refuses;
    above ``default_mg_per_kg`` or ``max_mg_per_kg`` (the usual / studied top) it warns.
    """

    kind: Literal["mg_per_kg"]
    default_mg_per_kg: Sourced
    min_mg_per_kg: Sourced
    max_mg_per_kg: Sourced
    hard_max_mg_per_kg: Sourced
    hard_max_mg: Sourced | None = None
    hard_max_mg_per_kg_per_hour: Sourced | None = None
    # Below this total the dose is thought too low to work (Cohen: >= 80 mg): warn only.
    min_total_mg: Sourced | None = None
    weight_bases: tuple[WeightBasis, ...] = Field(min_length=1)
    default_weight_basis: WeightBasis
    weight_bases_source: Text
    # adjusted = ideal + factor x (actual - ideal)
    adjusted_weight_factor: Sourced
    weight_max_age_days: SourcedInt
    dose_step_mg: Sourced

    @field_validator("weight_bases_source")
    @classmethod
    def _source_is_known(cls, value: str) -> str:
        return _check_source(value)

    @model_validator(mode="after")
    def _limits_are_ordered(self) -> MgPerKgDose:
        low, default = self.min_mg_per_kg.value, self.default_mg_per_kg.value
        usual, hard = self.max_mg_per_kg.value, self.hard_max_mg_per_kg.value
        if not low <= default <= usual <= hard:
            raise ValueError(
                "need min_mg_per_kg <= default_mg_per_kg <= max_mg_per_kg <= hard_max_mg_per_kg"
            )
        if self.default_weight_basis not in self.weight_bases:
            raise ValueError("default_weight_basis is not one of weight_bases")
        if len(set(self.weight_bases)) != len(self.weight_bases):
            raise ValueError("weight_bases repeat")
        if not Decimal(0) < self.adjusted_weight_factor.value < Decimal(1):
            raise ValueError("adjusted_weight_factor must be between 0 and 1")
        return self


class FixedDose(_Model):
    """A fixed dose in mg given as whole devices (esketamine nasal spray)."""

    kind: Literal["fixed_mg"]
    allowed_doses_mg: SourcedList
    starting_dose_mg: Sourced
    mg_per_device: Sourced
    min_minutes_between_devices: Sourced

    @model_validator(mode="after")
    def _doses_fit_devices(self) -> FixedDose:
        per_device = self.mg_per_device.value
        for dose in self.allowed_doses_mg.values:
            if dose % per_device != 0:
                raise ValueError(f"allowed dose {dose} mg is not a whole number of devices")
        if self.starting_dose_mg.value not in self.allowed_doses_mg.values:
            raise ValueError("starting_dose_mg is not one of allowed_doses_mg")
        return self


DoseRule = Annotated[MgPerKgDose | FixedDose, Field(discriminator="kind")]


class Preparation(_Model):
    """How a weight-based dose is drawn up: concentrations, measurable volume, pump rate."""

    concentrations_mg_per_ml: SourcedList
    volume_step_ml: Sourced
    # Pump entry precision; None for bolus routes (IM).
    rate_step_ml_per_h: Sourced | None = None


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
    """A longer minimum observation for a patient with this history flag (DOMAIN §2)."""

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
    """Discharge criteria (DOMAIN §5): all must be met or a physician overrides.

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
            # (DOMAIN §4.1), so an IV protocol never offers it.
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
