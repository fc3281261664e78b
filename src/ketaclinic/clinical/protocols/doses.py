"""Dose rules of a protocol: weight-based and fixed doses, and their limits. Pure."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from .sourced import (
    Sourced,
    SourcedInt,
    SourcedList,
    Text,
    WeightBasis,
    _check_source,
    _Model,
)

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
