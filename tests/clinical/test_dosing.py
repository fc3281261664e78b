"""Dose calculation: hand-worked examples, refusals, warnings and the laws a dose obeys.

Every expected value below is worked by hand in the comment above the assertion.
Rounding is ROUND_HALF_UP (0.5 rounds up) to the protocol's step: 1 mg for the dose,
0.1 mL (IV) or 0.01 mL (IM) for the volume, 0.01 mL/h for the pump rate, and 0.01 kg
for ideal and adjusted weights.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ketaclinic.clinical.dosing import (
    DoseError,
    adjusted_body_weight,
    calculate_dose,
    ideal_body_weight,
)
from ketaclinic.clinical.protocols import Protocol, load_protocols

PROTOCOLS = load_protocols()
IV = PROTOCOLS["ketamine-iv-mood"]
IM = PROTOCOLS["ketamine-im-mood"]
PAIN = PROTOCOLS["ketamine-iv-pain"]
SPRAY = PROTOCOLS["esketamine-nasal"]
TODAY = date(2026, 3, 2)
FRESH = {"weight_measured_on": date(2026, 2, 20), "today": TODAY}


def _error(protocol: Protocol, **kwargs) -> DoseError:
    with pytest.raises(DoseError) as excinfo:
        calculate_dose(protocol, **kwargs)
    return excinfo.value


# --- hand-worked IV examples ----------------------------------------------------------------


def test_it_doses_half_a_mg_per_kg_over_40_minutes_by_default():
    result = calculate_dose(IV, weight_kg=70, **FRESH)
    # 70 kg x 0.5 mg/kg = 35 mg; at 10 mg/mL: 35 / 10 = 3.5 mL;
    # rate = 3.5 mL / (40 / 60 h) = 5.25 mL/h.
    assert result.dose_mg == Decimal("35")
    assert result.requested_mg_per_kg == Decimal("0.5")
    assert result.effective_mg_per_kg == Decimal("0.500")
    assert result.weight_basis == "actual"
    assert result.weight_used_kg == Decimal("70")
    assert result.concentration_mg_per_ml == Decimal("10")
    assert result.volume_ml == Decimal("3.5")
    assert result.infusion_minutes == 40
    assert result.rate_ml_per_h == Decimal("5.25")
    assert result.devices is None
    assert result.warnings == ()
    assert (result.protocol_code, result.protocol_version) == ("ketamine-iv-mood", 2)


def test_it_computes_the_rate_at_the_other_offered_concentration():
    result = calculate_dose(IV, weight_kg=70, concentration_mg_per_ml=1, **FRESH)
    # 35 mg at 1 mg/mL = 35.0 mL; 35.0 / (40 / 60) = 52.5 mL/h.
    assert (result.volume_ml, result.rate_ml_per_h) == (Decimal("35.0"), Decimal("52.50"))


def test_it_rounds_half_a_mg_up():
    result = calculate_dose(IV, weight_kg=73, **FRESH)
    # 73 x 0.5 = 36.5 mg -> 37 mg half up (half-even would give 36); 3.7 mL;
    # 3.7 x 60 / 40 = 5.55 mL/h.
    assert (result.dose_mg, result.volume_ml, result.rate_ml_per_h) == (
        Decimal("37"),
        Decimal("3.7"),
        Decimal("5.55"),
    )


def test_it_rounds_below_half_a_mg_down():
    result = calculate_dose(IV, weight_kg=70.1, **FRESH)
    # 70.1 x 0.5 = 35.05 mg -> 35 mg.
    assert result.dose_mg == Decimal("35")
    assert result.actual_weight_kg == Decimal("70.1")


def test_it_accepts_an_absolute_dose_in_mg():
    result = calculate_dose(IV, weight_kg=80, dose_mg=60, **FRESH)
    # 60 mg / 80 kg = 0.75 mg/kg: inside 0.1-1.0, above the 0.5 default.
    assert result.dose_mg == Decimal("60")
    assert result.requested_mg_per_kg == Decimal("0.75")
    assert result.warnings == (
        "0.75 mg/kg is above the protocol default of 0.5 mg/kg (ANDRADE-2017, FAVA-2020).",
    )


# --- weight bases -----------------------------------------------------------------------------


def test_devine_ideal_weight_for_a_man_of_180_cm():
    # 180 / 2.54 = 70.866 in; 50 + 2.3 x (70.866 - 60) = 50 + 24.992 = 74.992 -> 74.99 kg.
    assert ideal_body_weight(Decimal(180), "male") == Decimal("74.99")


def test_devine_ideal_weight_for_a_woman_of_165_cm():
    # 165 / 2.54 = 64.961 in; 45.5 + 2.3 x 4.961 = 45.5 + 11.409 = 56.909 -> 56.91 kg.
    assert ideal_body_weight(Decimal(165), "female") == Decimal("56.91")


def test_devine_at_exactly_five_feet_is_the_base_weight():
    # 152.4 cm = 60 in: 50 kg (male), 45.5 kg (female).
    assert ideal_body_weight(Decimal("152.4"), "male") == Decimal("50.00")
    assert ideal_body_weight(Decimal("152.4"), "female") == Decimal("45.50")


def test_adjusted_weight_is_ideal_plus_four_tenths_of_the_excess():
    # 74.99 + 0.4 x (90 - 74.99) = 74.99 + 6.004 = 80.994 -> 80.99 kg.
    assert adjusted_body_weight(Decimal(90), Decimal("74.99"), Decimal("0.4")) == Decimal("80.99")


def test_it_doses_on_adjusted_weight():
    result = calculate_dose(
        IV, weight_kg=90, height_cm=180, sex_at_birth="male", weight_basis="adjusted", **FRESH
    )
    # adjusted 80.99 kg x 0.5 = 40.495 mg -> 40 mg; 4.0 mL; 4.0 x 60 / 40 = 6.00 mL/h;
    # effective 40 / 80.99 = 0.4939 -> 0.494 mg/kg.
    assert result.weight_basis == "adjusted"
    assert (result.actual_weight_kg, result.ideal_weight_kg, result.weight_used_kg) == (
        Decimal("90"),
        Decimal("74.99"),
        Decimal("80.99"),
    )
    assert (result.dose_mg, result.volume_ml, result.rate_ml_per_h) == (
        Decimal("40"),
        Decimal("4.0"),
        Decimal("6.00"),
    )
    assert result.effective_mg_per_kg == Decimal("0.494")
    assert result.warnings == ()


def test_it_doses_on_ideal_weight():
    result = calculate_dose(
        IV, weight_kg=120, height_cm=180, sex_at_birth="male", weight_basis="ideal", **FRESH
    )
    # 74.99 x 0.5 = 37.495 -> 37 mg.
    assert (result.weight_used_kg, result.dose_mg) == (Decimal("74.99"), Decimal("37"))


def test_it_warns_when_ideal_weight_is_above_actual():
    result = calculate_dose(
        IV, weight_kg=50, height_cm=170, sex_at_birth="female", weight_basis="ideal", **FRESH
    )
    # 170 / 2.54 = 66.929 in; 45.5 + 2.3 x 6.929 = 61.437 -> 61.44 kg > 50 kg actual;
    # 61.44 x 0.5 = 30.72 -> 31 mg.
    assert result.dose_mg == Decimal("31")
    assert result.warnings == (
        "Actual weight 50 kg is below ideal body weight 61.44 kg: the ideal weight "
        "(61.44 kg) gives a larger dose than actual weight would.",
    )


@pytest.mark.parametrize("basis", ["ideal", "adjusted"])
def test_ideal_and_adjusted_weight_need_height(basis):
    error = _error(IV, weight_kg=90, sex_at_birth="male", weight_basis=basis, **FRESH)
    assert error.field == "height_cm"


@pytest.mark.parametrize("sex", [None, "other", "M"])
def test_ideal_and_adjusted_weight_need_male_or_female(sex):
    error = _error(IV, weight_kg=90, height_cm=180, sex_at_birth=sex, weight_basis="ideal", **FRESH)
    assert error.field == "sex_at_birth"


def test_it_refuses_devine_below_five_feet():
    error = _error(
        IV, weight_kg=50, height_cm=150, sex_at_birth="female", weight_basis="ideal", **FRESH
    )
    assert error.field == "height_cm"
    assert "152.4 cm" in error.message


def test_it_refuses_an_unknown_weight_basis():
    assert _error(IV, weight_kg=70, weight_basis="lean", **FRESH).field == "weight_basis"


# --- refusals -----------------------------------------------------------------------------------


def test_it_refuses_dose_above_protocol_max():
    error = _error(IV, weight_kg=70, dose_mg_per_kg=Decimal("1.01"), **FRESH)
    assert error.field == "dose_mg_per_kg"
    assert error.message == (
        "1.01 mg/kg on 70 kg is above the protocol hard maximum of 1.0 mg/kg (policy)"
    )


def test_it_refuses_an_absolute_dose_above_protocol_max():
    # 71 mg / 70 kg = 1.014 mg/kg > 1.0.
    error = _error(IV, weight_kg=70, dose_mg=71, **FRESH)
    assert error.field == "dose_mg"
    assert "1.014 mg/kg on 70 kg is above the protocol hard maximum" in error.message


def test_it_refuses_dose_below_protocol_min():
    error = _error(IV, weight_kg=70, dose_mg_per_kg=Decimal("0.09"), **FRESH)
    assert error.field == "dose_mg_per_kg"
    assert "below the protocol minimum of 0.1 mg/kg (ANDRADE-2017, FAVA-2020)" in error.message


def test_it_accepts_the_limits_themselves():
    # 0.1 x 70 = 7 mg; 1.0 x 70 = 70 mg.
    assert calculate_dose(IV, weight_kg=70, dose_mg_per_kg=Decimal("0.1"), **FRESH).dose_mg == 7
    high = calculate_dose(IV, weight_kg=70, dose_mg_per_kg=Decimal("1.0"), **FRESH)
    assert high.dose_mg == 70
    assert high.warnings == (
        "1 mg/kg is above the protocol default of 0.5 mg/kg (ANDRADE-2017, FAVA-2020).",
    )


def test_rounding_never_lifts_a_dose_above_the_hard_maximum():
    result = calculate_dose(
        IV,
        weight_kg=100,
        height_cm=180,
        sex_at_birth="male",
        weight_basis="ideal",
        dose_mg_per_kg=Decimal("1.0"),
        **FRESH,
    )
    # 1.0 x 74.99 = 74.99 mg would round half up to 75 mg > 74.99 mg cap: round down to 74.
    assert result.dose_mg == Decimal("74")


# The hard maximum holds on actual weight too: a tall, light man dosed on ideal weight.
# 190 cm / 2.54 = 74.803 in; Devine 50 + 2.3 x 14.803 = 84.047 -> 84.05 kg ideal (60 kg actual).


def test_it_refuses_an_ideal_weight_dose_above_the_hard_maximum_on_actual_weight():
    # 1.0 x 84.05 = 84.05 mg; 84.05 / 60 = 1.401 mg/kg of actual weight > 1.0.
    error = _error(
        IV,
        weight_kg=60,
        height_cm=190,
        sex_at_birth="male",
        weight_basis="ideal",
        dose_mg_per_kg=Decimal("1.0"),
        **FRESH,
    )
    assert error.field == "dose_mg_per_kg"
    assert error.message == (
        "1 mg/kg on 84.05 kg (ideal weight) is 84.05 mg, which is 1.401 mg/kg of actual "
        "weight 60 kg: above the protocol hard maximum of 1.0 mg/kg (policy)"
    )


def test_it_refuses_an_adjusted_weight_dose_above_the_hard_maximum_on_actual_weight():
    # Adjusted: 84.05 + 0.4 x (60 - 84.05) = 74.43 kg; 74.43 mg / 60 kg = 1.2405 -> 1.241 mg/kg.
    error = _error(
        IV,
        weight_kg=60,
        height_cm=190,
        sex_at_birth="male",
        weight_basis="adjusted",
        dose_mg_per_kg=Decimal("1.0"),
        **FRESH,
    )
    assert error.message == (
        "1 mg/kg on 74.43 kg (adjusted weight) is 74.43 mg, which is 1.241 mg/kg of actual "
        "weight 60 kg: above the protocol hard maximum of 1.0 mg/kg (policy)"
    )


def test_it_refuses_an_absolute_dose_above_the_hard_maximum_on_actual_weight():
    # 61 mg / 84.05 kg = 0.726 mg/kg (allowed on ideal), but 61 / 60 = 1.017 mg/kg actual.
    error = _error(
        IV,
        weight_kg=60,
        height_cm=190,
        sex_at_birth="male",
        weight_basis="ideal",
        dose_mg=61,
        **FRESH,
    )
    assert error.field == "dose_mg"
    assert "which is 1.017 mg/kg of actual weight 60 kg: above the protocol hard maximum" in (
        error.message
    )


def test_an_ideal_weight_dose_under_the_maximum_on_actual_weight_is_given_with_a_warning():
    result = calculate_dose(
        IV,
        weight_kg=60,
        height_cm=190,
        sex_at_birth="male",
        weight_basis="ideal",
        dose_mg_per_kg=Decimal("0.7"),
        **FRESH,
    )
    # 0.7 x 84.05 = 58.835 -> 59 mg; 59 / 60 = 0.983 mg/kg of actual weight <= 1.0.
    assert result.dose_mg == Decimal("59")
    assert result.effective_mg_per_kg == Decimal("0.702")  # 59 / 84.05
    assert result.warnings[0] == (
        "Actual weight 60 kg is below ideal body weight 84.05 kg: the ideal weight "
        "(84.05 kg) gives a larger dose than actual weight would."
    )


def test_rounding_never_lifts_a_dose_above_the_hard_maximum_on_actual_weight():
    # 0.708 x 84.05 = 59.507 mg (0.998 mg/kg of 59.6 kg actual) would round to 60 mg,
    # 1.007 mg/kg of actual weight: rounded down to 59 mg instead.
    result = calculate_dose(
        IV,
        weight_kg=Decimal("59.6"),
        height_cm=190,
        sex_at_birth="male",
        weight_basis="ideal",
        dose_mg_per_kg=Decimal("0.708"),
        **FRESH,
    )
    assert result.dose_mg == Decimal("59")


def test_it_refuses_both_dose_forms_at_once():
    assert (
        _error(IV, weight_kg=70, dose_mg=35, dose_mg_per_kg=Decimal("0.5"), **FRESH).field
        == "dose_mg"
    )


@pytest.mark.parametrize("field", ["dose_mg", "dose_mg_per_kg"])
def test_it_refuses_a_zero_or_negative_dose(field):
    assert _error(IV, weight_kg=70, **{field: 0}, **FRESH).field == field
    assert _error(IV, weight_kg=70, **{field: -1}, **FRESH).field == field


@pytest.mark.parametrize(("weight", "ok"), [(24.9, False), (25, True), (350, True), (350.1, False)])
def test_weight_must_be_plausible(weight, ok):
    if ok:
        calculate_dose(IV, weight_kg=weight, dose_mg_per_kg=Decimal("0.5"), **FRESH)
    else:
        error = _error(IV, weight_kg=weight, **FRESH)
        assert error.field == "weight_kg"
        assert "plausible range 25-350 kg" in error.message


@pytest.mark.parametrize(
    ("height", "ok"), [(99.9, False), (100, True), (250, True), (250.1, False)]
)
def test_height_must_be_plausible(height, ok):
    if ok:
        calculate_dose(IV, weight_kg=70, height_cm=height, **FRESH)
    else:
        assert _error(IV, weight_kg=70, height_cm=height, **FRESH).field == "height_cm"


@pytest.mark.parametrize("weight", [True, "70", float("nan"), float("inf")])
def test_weight_must_be_a_finite_number(weight):
    assert _error(IV, weight_kg=weight, **FRESH).field == "weight_kg"


def test_a_weight_based_protocol_needs_a_weight():
    assert _error(IV, weight_kg=None, **FRESH).field == "weight_kg"


def test_it_refuses_a_concentration_the_protocol_does_not_offer():
    error = _error(IV, weight_kg=70, concentration_mg_per_ml=100, **FRESH)
    assert error.field == "concentration_mg_per_ml"
    assert error.message == "100 mg/mL is not offered by ketamine-iv-mood (10 mg/mL, 1 mg/mL)"


# --- weight date ----------------------------------------------------------------------------------


def test_it_warns_when_the_weight_is_older_than_30_days():
    result = calculate_dose(IV, weight_kg=70, weight_measured_on=date(2026, 1, 30), today=TODAY)
    # 30 Jan -> 2 Mar 2026 = 1 + 28 + 2 = 31 days.
    assert result.warnings == (
        "The weight was measured 31 days ago (on 2026-01-30), more than 30 days: weigh the patient.",
    )


def test_a_weight_exactly_30_days_old_is_current():
    result = calculate_dose(IV, weight_kg=70, weight_measured_on=date(2026, 1, 31), today=TODAY)
    assert result.warnings == ()


def test_it_warns_when_the_weight_date_is_unknown():
    result = calculate_dose(IV, weight_kg=70)
    assert result.warnings == ("The date the weight was measured is unknown: weigh the patient.",)


def test_it_refuses_a_weight_measured_in_the_future():
    error = _error(IV, weight_kg=70, weight_measured_on=date(2026, 3, 3), today=TODAY)
    assert error.field == "weight_measured_on"


# --- IM and pain ---------------------------------------------------------------------------------


def test_im_dose_has_a_volume_but_no_rate():
    result = calculate_dose(IM, weight_kg=63, dose_mg_per_kg=Decimal("0.75"), **FRESH)
    # 63 x 0.75 = 47.25 -> 47 mg; 47 / 50 mg/mL = 0.94 mL; no infusion.
    assert (result.dose_mg, result.volume_ml) == (Decimal("47"), Decimal("0.94"))
    assert (result.infusion_minutes, result.rate_ml_per_h) == (None, None)
    assert result.warnings == (
        "0.75 mg/kg is above the protocol default of 0.5 mg/kg (policy [verify]).",
    )


def test_im_refuses_above_one_mg_per_kg():
    error = _error(IM, weight_kg=63, dose_mg_per_kg=Decimal("1.1"), **FRESH)
    assert error.message.endswith("hard maximum of 1.0 mg/kg (policy [verify])")


def test_pain_default_is_half_a_mg_per_kg_per_hour_for_four_hours():
    result = calculate_dose(PAIN, weight_kg=70, **FRESH)
    # 0.5 mg/kg/h x 4 h = 2.0 mg/kg; 70 x 2.0 = 140 mg; 14.0 mL at 10 mg/mL;
    # 14.0 mL / 4 h = 3.50 mL/h.
    assert (result.dose_mg, result.volume_ml, result.rate_ml_per_h) == (
        Decimal("140"),
        Decimal("14.0"),
        Decimal("3.50"),
    )
    assert result.infusion_minutes == 240


def test_pain_warns_below_80_mg_total():
    result = calculate_dose(PAIN, weight_kg=50, dose_mg_per_kg=Decimal("1.4"), **FRESH)
    # 50 x 1.4 = 70 mg < 80 mg; 7.0 mL / 4 h = 1.75 mL/h.
    assert (result.dose_mg, result.rate_ml_per_h) == (Decimal("70"), Decimal("1.75"))
    assert result.warnings == (
        "70 mg is below 80 mg (COHEN-2018): the total dose should be at least 80 mg infused "
        "over more than 2 hours.",
    )


def test_pain_refuses_above_two_mg_per_kg_per_hour():
    # 8.1 mg/kg over 4 h = 2.025 mg/kg/h.
    error = _error(PAIN, weight_kg=70, dose_mg_per_kg=Decimal("8.1"), **FRESH)
    assert error.field == "dose_mg_per_kg"
    assert "hard maximum of 8.0 mg/kg (COHEN-2018)" in error.message


# --- esketamine ----------------------------------------------------------------------------------


def test_esketamine_starts_at_56_mg_in_two_devices():
    result = calculate_dose(SPRAY, weight_kg=None)
    assert (result.dose_mg, result.devices) == (Decimal("56"), 2)
    assert (result.volume_ml, result.rate_ml_per_h, result.weight_used_kg) == (None, None, None)
    assert result.warnings == ()


def test_esketamine_84_mg_is_three_devices():
    assert calculate_dose(SPRAY, weight_kg=80, dose_mg=84).devices == 3


@pytest.mark.parametrize("dose", [28, 55, 112])
def test_esketamine_refuses_a_dose_the_label_does_not_allow(dose):
    error = _error(SPRAY, weight_kg=None, dose_mg=dose)
    assert error.field == "dose_mg"
    assert error.message == f"esketamine-nasal allows 56 mg or 84 mg only, not {dose} mg"


def test_esketamine_first_session_must_be_56_mg():
    error = _error(SPRAY, weight_kg=None, dose_mg=84, first_session=True)
    assert error.field == "dose_mg"
    assert calculate_dose(SPRAY, weight_kg=None, dose_mg=56, first_session=True).devices == 2


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"dose_mg_per_kg": Decimal("0.5")}, "dose_mg_per_kg"),
        ({"weight_basis": "ideal"}, "weight_basis"),
        ({"concentration_mg_per_ml": 10}, "concentration_mg_per_ml"),
        ({"weight_kg": 20}, "weight_kg"),
    ],
)
def test_esketamine_refuses_inputs_that_do_not_apply(kwargs, field):
    assert _error(SPRAY, **{"weight_kg": None, **kwargs}).field == field


# --- laws ------------------------------------------------------------------------------------------

WEIGHT_BASED = [IV, IM, PAIN]
weights = st.decimals(min_value=25, max_value=350, places=1)


def _per_kg(protocol: Protocol) -> st.SearchStrategy[Decimal]:
    return st.decimals(
        min_value=protocol.dose.min_mg_per_kg.value,
        max_value=protocol.dose.hard_max_mg_per_kg.value,
        places=3,
    )


@settings(max_examples=300)
@given(data=st.data(), protocol=st.sampled_from(WEIGHT_BASED), weight=weights)
def test_a_dose_is_never_above_the_hard_maximum_and_within_a_step_of_exact(data, protocol, weight):
    per_kg = data.draw(_per_kg(protocol))
    result = calculate_dose(protocol, weight_kg=weight, dose_mg_per_kg=per_kg, **FRESH)
    step = protocol.dose.dose_step_mg.value
    assert result.dose_mg <= protocol.dose.hard_max_mg_per_kg.value * weight
    assert result.dose_mg > 0
    assert abs(result.dose_mg - per_kg * weight) < step


@settings(max_examples=300)
@given(
    data=st.data(),
    protocol=st.sampled_from(WEIGHT_BASED),
    weight=st.decimals(min_value=25, max_value=175, places=1),
)
def test_dose_scales_linearly_with_weight_up_to_rounding(data, protocol, weight):
    per_kg = data.draw(_per_kg(protocol))
    single = calculate_dose(protocol, weight_kg=weight, dose_mg_per_kg=per_kg, **FRESH).dose_mg
    double = calculate_dose(protocol, weight_kg=2 * weight, dose_mg_per_kg=per_kg, **FRESH).dose_mg
    # Each dose is within one step of exact, so 2 x single and double differ by < 3 steps.
    assert abs(double - 2 * single) < 3 * protocol.dose.dose_step_mg.value


@settings(max_examples=300)
@given(data=st.data(), protocol=st.sampled_from(WEIGHT_BASED), weight=weights)
def test_volume_times_concentration_is_the_dose_exactly(data, protocol, weight):
    per_kg = data.draw(_per_kg(protocol))
    conc = data.draw(st.sampled_from(protocol.preparation.concentrations_mg_per_ml.values))
    result = calculate_dose(
        protocol, weight_kg=weight, dose_mg_per_kg=per_kg, concentration_mg_per_ml=conc, **FRESH
    )
    assert result.volume_ml * conc == result.dose_mg


@settings(max_examples=300)
@given(data=st.data(), protocol=st.sampled_from([IV, PAIN]), weight=weights)
def test_rate_over_the_infusion_delivers_the_dose_within_rounding(data, protocol, weight):
    per_kg = data.draw(_per_kg(protocol))
    conc = data.draw(st.sampled_from(protocol.preparation.concentrations_mg_per_ml.values))
    result = calculate_dose(
        protocol, weight_kg=weight, dose_mg_per_kg=per_kg, concentration_mg_per_ml=conc, **FRESH
    )
    hours = Decimal(result.infusion_minutes) / 60
    delivered = result.rate_ml_per_h * hours * conc
    # The rate is rounded to half a rate step at most; over the infusion that is
    # rate_step / 2 x hours x concentration mg.
    tolerance = protocol.preparation.rate_step_ml_per_h.value / 2 * hours * conc
    assert abs(delivered - result.dose_mg) <= tolerance


@settings(max_examples=200)
@given(
    weight=weights,
    height=st.decimals(min_value="152.4", max_value=250, places=1),
    sex=st.sampled_from(["male", "female"]),
)
def test_adjusted_weight_lies_between_ideal_and_actual(weight, height, sex):
    ideal = ideal_body_weight(height, sex)
    adjusted = adjusted_body_weight(weight, ideal, Decimal("0.4"))
    assert min(ideal, weight) - Decimal("0.01") <= adjusted <= max(ideal, weight) + Decimal("0.01")


@settings(max_examples=300)
@given(
    data=st.data(),
    protocol=st.sampled_from(WEIGHT_BASED),
    weight=st.decimals(min_value=25, max_value=200, places=1),
    height=st.decimals(min_value="152.4", max_value=250, places=1),
    sex=st.sampled_from(["male", "female"]),
    basis=st.sampled_from(["ideal", "adjusted"]),
)
def test_no_weight_basis_gives_more_than_the_hard_maximum_per_kg_of_actual_weight(
    data, protocol, weight, height, sex, basis
):
    if basis not in protocol.dose.weight_bases:
        return
    per_kg = data.draw(_per_kg(protocol))
    try:
        result = calculate_dose(
            protocol,
            weight_kg=weight,
            height_cm=height,
            sex_at_birth=sex,
            weight_basis=basis,
            dose_mg_per_kg=per_kg,
            **FRESH,
        )
    except DoseError as error:
        assert "actual weight" in error.message or "rounds to nothing" in error.message
        return
    assert result.dose_mg <= protocol.dose.hard_max_mg_per_kg.value * weight
