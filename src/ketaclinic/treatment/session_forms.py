"""The session page's forms: one Django form per thing a panel posts.

Each form parses what the page posts (times typed as HH:MM in clinic time, yes/no answers,
the stock lot, today's weight) and `apply` hands the values to the treatment service, which
owns the rules, the transaction and the audit event. Numbers go to the service as typed:
it parses and checks them the same way for the page and the API, and names the field it
refuses. An error the service raises lands on the field it names (`form_errors.add_errors`).

The panel (`PANEL`) is the part of the page the form lives in: with htmx a post swaps that
panel only (see `session_views`).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, cast

from django import forms
from django.core.exceptions import ValidationError
from django.http import QueryDict

from ketaclinic.accounts.form_errors import add_errors
from ketaclinic.treatment import services
from ketaclinic.treatment import vitals as vitals_path
from ketaclinic.treatment.session_fields import (
    NO_NUL,
    NUL,
    ClinicTime,
    Number,
    Text,
    YesNo,
    latest_clock_time,
)

__all__ = ["STEPS", "SessionForm", "latest_clock_time"]


class SessionForm(forms.Form):
    """A form of the session page, bound to the session and the one who posts it."""

    PANEL: ClassVar[str] = "top"
    ANCHOR: ClassVar[str] = ""  # where a plain post returns on the page (default: the panel)
    HIDDEN: ClassVar[tuple[str, ...]] = ()  # fields the page does not show: errors go on top

    def __init__(self, data: Any, *, actor: Any, session: Any) -> None:
        super().__init__(data)
        self.actor = actor
        self.session = session
        self.listed: list[str] = []  # what a refused step lists (unmet criteria, hard stops)
        self.alerts: list[Any] = []  # alerts a saved reading raised
        for field in self.fields.values():
            if isinstance(field, ClinicTime):
                field.tz = actor.clinic.tz

    def clean(self) -> dict[str, Any]:
        super().clean()
        # Anything else posted with a NUL byte (PostgreSQL cannot store one) is refused too.
        for name, values in self._posted().lists():
            if name not in self.fields and any("\x00" in v for v in values):
                self.add_error(None, f"{name}: {NUL}")
        return self.cleaned_data

    def _posted(self) -> QueryDict:
        """The form's data: the page always binds the POST (a QueryDict)."""
        return cast(QueryDict, self.data)

    def apply(self, version: int) -> str:
        """Call the service with the cleaned values; the message to show on success."""
        raise NotImplementedError

    def add_service_error(self, exc: ValidationError) -> None:
        """A service's refusal, each message by the field it names when the page shows it."""
        shown = {n for n in self.fields if n in self.data and n not in self.HIDDEN}
        add_errors(self, exc, shown=shown)

    def filled(self) -> dict[str, Any]:
        """What the template shows again: the values as typed and the errors by field."""
        values: dict[str, Any] = {name: self.data.get(name, "") for name in self.data}
        values["checked"] = self._posted().getlist("interventions")
        errors: dict[str, list[str]] = {"form": [str(m) for m in self.non_field_errors()]}
        for name, messages in self.errors.items():
            if name == "__all__":
                continue
            if name in self.HIDDEN or name not in self.data:
                errors["form"] += [f"{name}: {m}" for m in messages]
            else:
                errors[name] = [str(m) for m in messages]
        return {"v": values, "e": errors, "listed": self.listed}


def _no_nul_in_any(values: list[str]) -> None:
    for value in values:
        NO_NUL(value)


# --- checklist ----------------------------------------------------------------------------


class CheckForm(SessionForm):
    PANEL = "checklist"
    HIDDEN = ("item",)
    item = Text()
    met = Text()
    finding = Text()
    hours_since_food = Number()
    hours_since_liquids = Number()

    def apply(self, version: int) -> str:
        d = self.cleaned_data
        services.check_item(
            actor=self.actor,
            session=self.session,
            item_id=d["item"],
            met=d["met"] == "yes",
            finding=d["finding"],
            hours_since_food=d["hours_since_food"],
            hours_since_liquids=d["hours_since_liquids"],
            expected_version=version,
        )
        return "Checklist updated."


class OverrideForm(SessionForm):
    PANEL = "checklist"
    HIDDEN = ("item",)
    item = Text()
    reason = Text()

    def apply(self, version: int) -> str:
        services.override_item(
            actor=self.actor,
            session=self.session,
            item_id=self.cleaned_data["item"],
            reason=self.cleaned_data["reason"],
            expected_version=version,
        )
        return "Override recorded."


class PregnancyForm(SessionForm):
    PANEL = "checklist"
    HIDDEN = ("applies",)
    applies = Text()
    reason = Text()

    def apply(self, version: int) -> str:
        services.set_pregnancy_applies(
            actor=self.actor,
            session=self.session,
            applies=self.cleaned_data["applies"] == "yes",
            reason=self.cleaned_data["reason"],
            expected_version=version,
        )
        return "Checklist updated."


class WeightForm(SessionForm):
    """Today's weight, recorded on the patient record (patients' own service and checks)."""

    PANEL = "checklist"
    weight_kg = Text()

    def clean_weight_kg(self) -> Decimal:
        raw = (self.cleaned_data.get("weight_kg") or "").strip()
        try:
            weight = Decimal(raw)
        except (InvalidOperation, ValueError):
            raise ValidationError("Enter the weight in kg.") from None
        if not weight.is_finite() or not Decimal(25) <= weight <= Decimal(350):
            raise ValidationError("A weight must be between 25 and 350 kg.")
        return weight.quantize(Decimal("0.1"))

    def apply(self, version: int) -> str:
        from ketaclinic.patients.services import update_patient

        update_patient(
            actor=self.actor,
            patient=self.session.patient,
            data={
                "weight_kg": self.cleaned_data["weight_kg"],
                "weight_measured_on": self.actor.clinic.today(),
            },
        )
        services.refresh_checklist(self.session, actor=self.actor)
        return "Weight recorded."


# --- dose -----------------------------------------------------------------------------------


class DosingForm(SessionForm):
    PANEL = "dose"
    product = Text()
    ledger_lot_id = Text()
    lot_number = Text()
    dose_mg = Number()
    concentration_mg_per_ml = Number()
    started_at = ClinicTime()

    def clean_ledger_lot_id(self) -> Any:
        raw = (self.cleaned_data.get("ledger_lot_id") or "").strip()
        if not raw:
            return None
        from ketaclinic.inventory.models import Lot

        lot = (
            Lot.objects.for_clinic(self.actor.clinic)
            .select_related("product")
            .filter(pk=raw)
            .first()
            if raw.isdigit() and len(raw) < 19
            else None
        )
        if lot is None:
            raise ValidationError("No such lot in this clinic.")
        return lot

    def apply(self, version: int) -> str:
        d = self.cleaned_data
        services.begin_dosing(
            ledger_lot=d["ledger_lot_id"],
            actor=self.actor,
            session=self.session,
            product=d["product"],
            lot_number=d["lot_number"],
            dose_mg=d["dose_mg"],
            concentration_mg_per_ml=d["concentration_mg_per_ml"],
            started_at=d["started_at"],
            expected_version=version,
        )
        return "Dosing started."


class DeviceForm(SessionForm):
    PANEL = "dose"
    given_at = ClinicTime()
    override_reason = Text()

    def apply(self, version: int) -> str:
        device, overridden = services.record_device(
            actor=self.actor,
            session=self.session,
            given_at=self.cleaned_data["given_at"],
            expected_version=version,
            override_reason=self.cleaned_data["override_reason"],
        )
        if overridden:
            return f"Device {device.number} recorded with a physician override: {overridden[-1]}"
        return f"Device {device.number} recorded."


class InfusionForm(SessionForm):
    PANEL = "dose"
    kind = Text()
    reason = Text()
    rate_ml_per_h = Number()

    def apply(self, version: int) -> str:
        d = self.cleaned_data
        services.change_infusion(
            actor=self.actor,
            session=self.session,
            kind=d["kind"],
            reason=d["reason"],
            rate_ml_per_h=d["rate_ml_per_h"],
            expected_version=version,
        )
        return "Infusion change recorded."


class AmountsForm(SessionForm):
    """What was drawn, given and left over (ending the dose, or stopping the session)."""

    drawn = Text()
    given = Text()
    left_over = Text()
    waste_manner = Text()

    def amounts(self) -> dict[str, Any]:
        d = self.cleaned_data
        # As posted: a field the form did not show is None (not ""), as the service expects.
        return {
            name: (d[name] if name in self.data else None)
            for name in ("drawn", "given", "left_over")
        } | {"waste_manner": d["waste_manner"]}


class DosingEndForm(AmountsForm):
    PANEL = "dose"
    ended_at = ClinicTime()

    def apply(self, version: int) -> str:
        services.end_dosing(
            actor=self.actor,
            session=self.session,
            ended_at=self.cleaned_data["ended_at"],
            expected_version=version,
            **self.amounts(),
        )
        return "Dosing ended; monitoring."


# --- vitals and observations -----------------------------------------------------------------


class VitalsForm(SessionForm):
    PANEL = "vitals"
    systolic = Number()
    diastolic = Number()
    heart_rate = Number()
    spo2 = Number()
    respiratory_rate = Number()
    temperature_c = Number()
    taken_at = ClinicTime()

    def apply(self, version: int) -> str:
        values = {field: self.cleaned_data.get(field) for field in services.VITAL_FIELDS}
        reading, alerts = vitals_path.record_vitals(
            actor=self.actor,
            session=self.session,
            values=values,
            taken_at=self.cleaned_data["taken_at"],
            expected_version=version,
        )
        self.alerts = alerts
        return f"Vitals recorded (BP {reading.bp})."


class ObservationForm(SessionForm):
    PANEL = "vitals"
    kind = Text()
    value = Number()
    text = Text()
    taken_at = ClinicTime()

    def apply(self, version: int) -> str:
        d = self.cleaned_data
        observation, alerts = services.record_observation(
            actor=self.actor,
            session=self.session,
            kind=d["kind"],
            value=d["value"],
            text=d["text"],
            taken_at=d["taken_at"],
            expected_version=version,
        )
        self.alerts = alerts
        return f"{observation.get_kind_display()} recorded."


class AckForm(SessionForm):
    PANEL = "alerts"
    HIDDEN = ("alert",)
    alert = Text()

    def clean_alert(self) -> int:
        raw = (self.cleaned_data.get("alert") or "").strip()
        if not raw.isdigit() or len(raw) > 18:
            raise ValidationError("No such alert on this session.")
        return int(raw)

    def apply(self, version: int) -> str:
        services.acknowledge_alert(
            actor=self.actor,
            session=self.session,
            alert_id=self.cleaned_data["alert"],
            expected_version=version,
        )
        return "Alert acknowledged."


# --- adverse events ---------------------------------------------------------------------------


class AdverseForm(SessionForm):
    PANEL = "events"
    type = Text()
    severity = Text()
    outcome = Text()
    onset_at = ClinicTime()
    interventions = forms.MultipleChoiceField(required=False)
    drug_given = Text()
    serious = Text()
    note = Text()

    def __init__(self, data: Any, **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        # Any value the nurse may post goes to the service, which names an unknown one.
        posted = data.getlist("interventions") if data is not None else []
        cast(forms.ChoiceField, self.fields["interventions"]).choices = [(v, v) for v in posted]
        self.fields["interventions"].validators.append(_no_nul_in_any)

    def apply(self, version: int) -> str:
        d = self.cleaned_data
        services.record_adverse_event(
            actor=self.actor,
            session=self.session,
            type=d["type"],
            severity=d["severity"],
            outcome=d["outcome"],
            onset_at=d["onset_at"],
            interventions=d["interventions"],
            drug_given=d["drug_given"],
            serious=d["serious"] == "yes",
            note=d["note"],
            expected_version=version,
        )
        return "Adverse event recorded."


# --- discharge --------------------------------------------------------------------------------


class AssessmentForm(SessionForm):
    PANEL = "discharge"
    dissociation_resolved = YesNo(required=False)
    walks_steadily = YesNo(required=False)
    escort_present = YesNo(required=False)
    respiratory_depression = YesNo(required=False)
    could_have_left_at = ClinicTime()

    def apply(self, version: int) -> str:
        d = self.cleaned_data
        unmet = services.assess_discharge(
            actor=self.actor,
            session=self.session,
            dissociation_resolved=d["dissociation_resolved"],
            walks_steadily=d["walks_steadily"],
            escort_present=d["escort_present"],
            respiratory_depression=d["respiratory_depression"],
            could_have_left_at=d["could_have_left_at"],
            expected_version=version,
        )
        if unmet:
            return "Assessment saved; not yet ready: " + " ".join(u.message for u in unmet)
        return "Assessment saved: ready for discharge."


class DischargeForm(SessionForm):
    PANEL = "discharge"
    override_reason = Text()
    could_have_left_at = ClinicTime()

    def apply(self, version: int) -> str:
        services.discharge(
            actor=self.actor,
            session=self.session,
            override_reason=self.cleaned_data["override_reason"],
            could_have_left_at=self.cleaned_data["could_have_left_at"],
            expected_version=version,
        )
        return "Patient discharged."


class StopForm(AmountsForm):
    PANEL = "timeline"
    ANCHOR = "top"
    reason = Text()

    def apply(self, version: int) -> str:
        services.stop_session(
            actor=self.actor,
            session=self.session,
            reason=self.cleaned_data["reason"],
            expected_version=version,
            **self.amounts(),
        )
        return "Session stopped."


# --- signing ----------------------------------------------------------------------------------


class SignForm(SessionForm):
    PANEL = "sign"

    def apply(self, version: int) -> str:
        services.sign_session(actor=self.actor, session=self.session, expected_version=version)
        return "Signed."


class AmendForm(SessionForm):
    PANEL = "sign"
    target = Text()
    field = Text()
    new_value = Text()
    reason = Text()

    def apply(self, version: int) -> str:
        d = self.cleaned_data
        services.add_amendment(
            actor=self.actor,
            session=self.session,
            target=d["target"],
            field=d["field"],
            new_value=d["new_value"],
            reason=d["reason"],
            expected_version=version,
        )
        return "Amendment recorded."


# What the page posts to `.../do/<step>/`, and the form that reads it.
STEPS: dict[str, type[SessionForm]] = {
    "check": CheckForm,
    "override": OverrideForm,
    "pregnancy": PregnancyForm,
    "weight": WeightForm,
    "dosing": DosingForm,
    "device": DeviceForm,
    "infusion": InfusionForm,
    "dosing_end": DosingEndForm,
    "vitals": VitalsForm,
    "observation": ObservationForm,
    "ack": AckForm,
    "adverse": AdverseForm,
    "assessment": AssessmentForm,
    "discharge": DischargeForm,
    "stop": StopForm,
    "sign": SignForm,
    "amend": AmendForm,
}
