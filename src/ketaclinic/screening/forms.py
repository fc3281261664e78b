"""Forms for the intake (staff and patient link), screening, decisions, notes and consent."""

from __future__ import annotations

from typing import Any, cast

from django import forms

from ketaclinic.clinical.conditions import CONDITIONS
from ketaclinic.clinical.eligibility import HISTORY_FLAGS, MEDICATION_CLASSES, SUICIDE_RISK_LEVELS
from ketaclinic.screening import intake as rules
from ketaclinic.screening.consent import ConsentTemplate
from ketaclinic.screening.models import FAMILY_CHOICES

PREGNANCY_FLAGS = ("pregnant", "breastfeeding")
HISTORY_LABELS = {
    "psychosis_current": "Psychosis, current",
    "psychosis_history": "Psychosis, past",
    "mania_current": "Mania, current",
    "substance_use_active": "Substance use disorder, active",
    "substance_use_history": "Substance use disorder, past",
    "ketamine_misuse_history": "Ketamine misuse, past",
    "pregnant": "Pregnant",
    "breastfeeding": "Breastfeeding",
    "uncontrolled_hypertension": "Uncontrolled hypertension",
    "hypertensive_encephalopathy_history": "Hypertensive encephalopathy, past",
    "aneurysmal_vascular_disease": "Aneurysmal vascular disease (aortic, intracranial, peripheral)",
    "arteriovenous_malformation": "Arteriovenous malformation",
    "intracerebral_hemorrhage_history": "Intracerebral haemorrhage, past",
    "unstable_cardiovascular_disease": "Unstable cardiovascular disease",
    "increased_intracranial_pressure": "Raised intracranial pressure",
    "increased_intraocular_pressure": "Raised intraocular pressure (glaucoma)",
    "hepatic_impairment_moderate": "Hepatic impairment, moderate (Child-Pugh B)",
    "hepatic_impairment_severe": "Hepatic impairment, severe (Child-Pugh C)",
    "interstitial_cystitis": "Interstitial cystitis",
    "cognitive_impairment": "Cognitive impairment",
    "ketamine_hypersensitivity": "Hypersensitivity to ketamine",
    "esketamine_hypersensitivity": "Hypersensitivity to esketamine",
}
MEDICATION_LABELS = {
    "benzodiazepine": "Benzodiazepine",
    "nonbenzo_hypnotic": "Non-benzodiazepine hypnotic (z-drug)",
    "opioid": "Opioid",
    "psychostimulant": "Psychostimulant",
    "maoi": "MAO inhibitor",
    "lamotrigine": "Lamotrigine",
    "oral_antidepressant": "Oral antidepressant",
    "antihypertensive": "Antihypertensive",
}
RISK_LABELS = {"none": "None", "low": "Low", "moderate": "Moderate", "high": "High"}
BLANK_TRIAL_ROWS = 1


class TrialRow:
    """One row of the antidepressant-trial table (a bound set of inputs named trial-<i>-*)."""

    def __init__(self, index: int, values: dict[str, Any], error: str = "") -> None:
        self.index = index
        self.values = values
        self.error = error
        self.counts = False
        if values.get("drug") and values.get("weeks") not in (None, "") and values.get("response"):
            try:
                self.counts = rules.trial_counts(
                    {
                        "adequate_dose": bool(values.get("adequate_dose")),
                        "weeks": int(values["weeks"]),
                        "response": values["response"],
                    }
                )
            except (TypeError, ValueError):
                self.counts = False


def _checkboxes(choices: list[tuple[str, str]], label: str) -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        choices=choices, required=False, widget=forms.CheckboxSelectMultiple, label=label
    )


class IntakeForm(forms.Form):
    """The staff intake: one screen, sections, checklists with an "asked" marker each."""

    diagnoses_asked = forms.BooleanField(required=False, label="Diagnoses reviewed")
    diagnoses = _checkboxes([(c.code, c.display) for c in CONDITIONS.values()], "Current diagnoses")
    trials_asked = forms.BooleanField(required=False, label="Antidepressant trials asked")
    psychiatric_history = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=rules.MAX_TEXT,
        label="Psychiatric history",
    )
    substance_use = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=rules.MAX_TEXT,
        label="Substance use",
    )
    history_asked = forms.BooleanField(
        required=False, label="Medical history checklist asked (every item)"
    )
    history = _checkboxes(
        [(f, HISTORY_LABELS[f]) for f in HISTORY_FLAGS if f not in PREGNANCY_FLAGS],
        "Present or past",
    )
    pregnancy = _checkboxes(
        [(f, HISTORY_LABELS[f]) for f in PREGNANCY_FLAGS], "Pregnancy and breastfeeding"
    )
    medications_asked = forms.BooleanField(
        required=False, label="Current medications asked (every class)"
    )
    medications = _checkboxes(
        [(c, MEDICATION_LABELS[c]) for c in MEDICATION_CLASSES], "Current medication classes"
    )
    allergies = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=rules.MAX_TEXT,
        label="Allergies (as told)",
    )
    systolic_bp = forms.IntegerField(required=False, label="Systolic BP (mmHg)")
    diastolic_bp = forms.IntegerField(required=False, label="Diastolic BP (mmHg)")
    heart_rate = forms.IntegerField(required=False, label="Heart rate (bpm)")
    weight_kg = forms.DecimalField(
        required=False, max_digits=5, decimal_places=1, label="Weight (kg)"
    )
    height_cm = forms.DecimalField(
        required=False, max_digits=5, decimal_places=1, label="Height (cm)"
    )
    suicide_risk = forms.ChoiceField(
        required=False,
        label="Today's C-SSRS risk",
        choices=[("", "Not assessed")] + [(r, RISK_LABELS[r]) for r in SUICIDE_RISK_LEVELS],
    )

    VITALS = ("systolic_bp", "diastolic_bp", "heart_rate", "weight_kg", "height_cm")
    patient_only = False
    min_adequate_weeks = rules.MIN_ADEQUATE_WEEKS  # shown in the help under the trials

    def __init__(
        self, *args: Any, trials: list[dict[str, Any]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        for name in self.VITALS:
            self.fields[name].widget.attrs.update({"inputmode": "decimal", "class": "num"})
        self.trial_rows = self._trial_rows(trials or [])

    def _trial_rows(self, initial: list[dict[str, Any]]) -> list[TrialRow]:
        if not self.is_bound:
            rows = [TrialRow(i, dict(t)) for i, t in enumerate(initial)]
            start = len(rows)
            return rows + [TrialRow(start + i, {}) for i in range(BLANK_TRIAL_ROWS)]
        count = min(int(self.data.get("trial_count") or 0), rules.MAX_TRIALS)
        rows = []
        for i in range(count):
            get = lambda name, i=i: self.data.get(f"trial-{i}-{name}", "")  # noqa: E731
            values = {
                "drug": get("drug").strip(),
                "dose": get("dose").strip(),
                "weeks": get("weeks").strip(),
                # Adequacy is a clinician's judgement: the patient's form has no such box.
                "adequate_dose": not self.patient_only and get("adequate_dose") == "on",
                "response": get("response"),
            }
            rows.append(TrialRow(i, values))
        if "add_trial" in self.data:
            rows.append(TrialRow(len(rows), {}))
        return rows

    def trials(self) -> list[dict[str, Any]]:
        """The filled-in trial rows as intake data (blank rows dropped; weeks as int when it is one)."""
        out = []
        for row in self.trial_rows:
            v = row.values
            if not any((v.get("drug"), v.get("dose"), v.get("weeks"), v.get("response"))):
                continue
            weeks: Any = v.get("weeks")
            try:
                weeks = int(weeks)
            except (TypeError, ValueError):
                pass
            out.append(
                {
                    "drug": v.get("drug", ""),
                    "dose": v.get("dose", ""),
                    "weeks": weeks,
                    "adequate_dose": bool(v.get("adequate_dose")),
                    "response": v.get("response") or None,
                }
            )
        return out

    def intake_data(self) -> dict[str, Any]:
        """Cleaned form data in the intake's JSON shape (validated again by the service)."""
        c = self.cleaned_data
        data: dict[str, Any] = {}
        if not self.patient_only and c.get("diagnoses_asked"):
            data["diagnoses"] = list(c.get("diagnoses") or [])
        if c.get("trials_asked"):
            data["trials_asked"] = True
            data["trials"] = self.trials()
        if c.get("history_asked"):
            data["history_asked"] = True
            data["history"] = list(c.get("history") or []) + list(c.get("pregnancy") or [])
        if c.get("medications_asked"):
            data["medications_asked"] = True
            data["medications"] = list(c.get("medications") or [])
        for name in ("psychiatric_history", "substance_use", "allergies"):
            if c.get(name):
                data[name] = c[name]
        if not self.patient_only:
            for name in self.VITALS:
                value = c.get(name)
                if value is not None:
                    data[name] = float(value) if name in ("weight_kg", "height_cm") else value
            if c.get("suicide_risk"):
                data["suicide_risk"] = c["suicide_risk"]
        return data

    def add_service_errors(self, message_dict: dict[str, list[str]]) -> None:
        for field, messages in message_dict.items():
            if field.startswith("trials."):
                parts = field.split(".")
                index = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
                filled = [
                    r
                    for r in self.trial_rows
                    if any(
                        (
                            r.values.get("drug"),
                            r.values.get("dose"),
                            r.values.get("weeks"),
                            r.values.get("response"),
                        )
                    )
                ]
                if index is not None and index < len(filled):
                    filled[index].error = " ".join(messages)
                self.add_error(
                    None, f"Trial {index + 1 if index is not None else ''}: {' '.join(messages)}"
                )
            elif field in self.fields:
                self.add_error(field, messages)
            elif field == "history" and "history" in self.fields:
                self.add_error("history", messages)
            else:
                self.add_error(None, f"{field}: {' '.join(messages)}")

    @classmethod
    def initial_from(
        cls,
        data: dict[str, Any],
        *,
        medications_on_file: list[str],
        conditions_on_file: tuple[str, ...] | list[str] = (),
        weight_kg: Any = None,
        height_cm: Any = None,
    ) -> dict[str, Any]:
        """The form's initial values from a stored intake (or an empty one)."""
        history = data.get("history", [])
        meds = list(dict.fromkeys([*data.get("medications", []), *medications_on_file]))
        initial: dict[str, Any] = {
            "diagnoses_asked": "diagnoses" in data,
            # Without a stored answer, offer the chart's conditions (still to be reviewed).
            "diagnoses": data["diagnoses"] if "diagnoses" in data else list(conditions_on_file),
            "trials_asked": data.get("trials_asked", False),
            "history_asked": data.get("history_asked", False),
            "history": [f for f in history if f not in PREGNANCY_FLAGS],
            "pregnancy": [f for f in history if f in PREGNANCY_FLAGS],
            "medications_asked": data.get("medications_asked", False),
            "medications": meds,
            "suicide_risk": data.get("suicide_risk", ""),
        }
        for name in (
            "psychiatric_history",
            "substance_use",
            "allergies",
            "systolic_bp",
            "diastolic_bp",
            "heart_rate",
        ):
            initial[name] = data.get(name)
        initial["weight_kg"] = data.get("weight_kg", weight_kg)
        initial["height_cm"] = data.get("height_cm", height_cm)
        return initial


class PatientIntakeForm(IntakeForm):
    """What the patient fills in through the link: history only (no diagnoses, vitals, risk)."""

    patient_only = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("diagnoses_asked", "diagnoses", "suicide_risk", *self.VITALS):
            del self.fields[name]
        self.fields["trials_asked"].label = "I have listed the antidepressants I have tried"
        self.fields["history_asked"].label = "I have gone through the whole list"
        self.fields["medications_asked"].label = "I have gone through the whole list"
        self.fields["history"].label = "Tick each that applies to you, now or in the past"
        self.fields["medications"].label = "Tick each kind of medicine you take now"

    def clean(self) -> dict[str, Any]:
        """Refuse ticked items or listed trials whose "I have ..." box is not ticked.

        An unconfirmed list is not stored at all, so without this a patient who ticks
        "Psychosis, now" but not "I have gone through the whole list" would lose it.
        """
        cleaned = super().clean() or {}
        if "add_trial" in self.data:
            return cleaned  # only adding a row: nothing is sent yet
        ticked = {
            "history_asked": bool(cleaned.get("history") or cleaned.get("pregnancy")),
            "medications_asked": bool(cleaned.get("medications")),
            "trials_asked": bool(self.trials()),
        }
        for confirm, has_answers in ticked.items():
            if has_answers and not cleaned.get(confirm):
                self.add_error(
                    confirm, "Tick this to send what you filled in (or clear those answers)."
                )
        return cleaned


class RunScreeningForm(forms.Form):
    protocol = forms.ChoiceField(choices=FAMILY_CHOICES, label="Protocol")


class DecisionForm(forms.Form):
    """The physician's decision; only the choices that fit the evaluation are offered."""

    decision = forms.ChoiceField(widget=forms.RadioSelect)
    reason = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=4000,
        label="Reason",
    )

    def __init__(self, *args: Any, result: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # An ineligible result is declined or overridden; anything else accepted or declined.
        decision = cast(forms.ChoiceField, self.fields["decision"])
        if result == "ineligible":
            decision.choices = [
                ("decline", "Decline"),
                ("override", "Override the exclusion"),
            ]
            self.fields["reason"].help_text = "Required for an override."
        else:
            decision.choices = [("accept", "Accept"), ("decline", "Decline")]
            self.fields["reason"].help_text = (
                "Required to decline an eligible result."
                if result == "eligible"
                else "Required to accept: say how the flagged findings were reviewed."
            )


class NoteForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 8}), label="Consultation note")
    screening = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Screening decision"
    )


class AmendForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), label="Amendment")
    reason = forms.CharField(max_length=500, label="Reason for the amendment")


class ConsentSignForm(forms.Form):
    """Typed full name and one required checkbox per key risk of the template."""

    signed_name = forms.CharField(max_length=200, label="Type your full name to sign")

    def __init__(self, *args: Any, template: ConsentTemplate, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.template = template
        for risk in template.risks:
            self.fields[f"risk_{risk.id}"] = forms.BooleanField(
                required=True,
                label=risk.text,
                error_messages={"required": "Tick this to confirm you understand it."},
            )
        self.fields["signed_name"].widget.attrs.update({"autocomplete": "off"})

    def risk_fields(self) -> list[forms.BoundField]:
        return [self[f"risk_{r.id}"] for r in self.template.risks]

    def acknowledgements(self) -> list[str]:
        return [r.id for r in self.template.risks if self.cleaned_data.get(f"risk_{r.id}")]


class WithdrawForm(forms.Form):
    reason = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Reason, if the patient gave one",
    )


class ConsentLinkForm(forms.Form):
    template = forms.ChoiceField(choices=FAMILY_CHOICES, label="Consent")
