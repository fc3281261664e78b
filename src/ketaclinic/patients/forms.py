from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django import forms

from ketaclinic.patients.models import Allergy, Condition, Medication, Patient

LB_PER_KG = Decimal("2.20462262")
CM_PER_IN = Decimal("2.54")


class DateInput(forms.DateInput):
    input_type = "date"


class PatientForm(forms.ModelForm):
    """Demographics; weight may be entered in lb and height in inches (stored in kg / cm)."""

    weight = forms.DecimalField(required=False, min_value=0, max_digits=6, decimal_places=1)
    weight_unit = forms.ChoiceField(choices=[("kg", "kg"), ("lb", "lb")], initial="kg")
    height = forms.DecimalField(required=False, min_value=0, max_digits=6, decimal_places=1)
    height_unit = forms.ChoiceField(choices=[("cm", "cm"), ("in", "in")], initial="cm")
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Patient
        fields = [
            "given_name",
            "family_name",
            "preferred_name",
            "mrn",
            "birth_date",
            "sex_at_birth",
            "gender_identity",
            "pronouns",
            "email",
            "phone",
            "address",
            "emergency_contact_name",
            "emergency_contact_relationship",
            "emergency_contact_phone",
            "escort_name",
            "escort_phone",
            "status",
        ]
        widgets = {"birth_date": DateInput, "address": forms.Textarea(attrs={"rows": 2})}
        help_texts = {"mrn": "Leave empty to assign the next number."}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["mrn"].required = False
        if self.instance.pk:
            self.fields["weight"].initial = self.instance.weight_kg
            self.fields["height"].initial = self.instance.height_cm
            self.fields["version"].initial = self.instance.version

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        weight, height = data.get("weight"), data.get("height")
        if weight is not None:
            if data.get("weight_unit") == "lb":
                weight = weight / LB_PER_KG
            data["weight_kg"] = weight.quantize(Decimal("0.1"), ROUND_HALF_UP)
            if not 25 <= data["weight_kg"] <= 350:
                self.add_error("weight", "A weight must be between 25 and 350 kg (55–770 lb).")
        if height is not None:
            if data.get("height_unit") == "in":
                height = height * CM_PER_IN
            data["height_cm"] = height.quantize(Decimal("0.1"), ROUND_HALF_UP)
            if not 100 <= data["height_cm"] <= 250:
                self.add_error("height", "A height must be between 100 and 250 cm (39–98 in).")
        return data

    def record_data(self) -> dict[str, object]:
        """The cleaned values as the patient service takes them."""
        data = {name: self.cleaned_data.get(name) for name in self.Meta.fields}
        for name in ("weight_kg", "height_cm"):
            if self.cleaned_data.get(name) is not None:
                data[name] = self.cleaned_data[name]
        if not data.get("mrn"):
            data.pop("mrn")
        return data


class ConditionForm(forms.ModelForm):
    class Meta:
        model = Condition
        fields = ["code", "icd10cm", "note"]


class MedicationForm(forms.ModelForm):
    class Meta:
        model = Medication
        fields = ["name", "med_class", "dose", "frequency"]


class AllergyForm(forms.ModelForm):
    class Meta:
        model = Allergy
        fields = ["substance", "reaction", "severity"]


CHART_FORMS = {"condition": ConditionForm, "medication": MedicationForm, "allergy": AllergyForm}
# The model each chart form saves (the stop view has no form to read it from).
CHART_MODELS: dict[str, type[Condition | Medication | Allergy]] = {
    "condition": Condition,
    "medication": Medication,
    "allergy": Allergy,
}
