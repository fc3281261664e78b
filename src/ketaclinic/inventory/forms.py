"""Forms for the ledger pages; the services do the checking that matters."""

from __future__ import annotations

from typing import TypedDict

from django import forms
from django.utils import timezone

from ketaclinic.inventory.models import (
    CountKind,
    CountTiming,
    InventorySettings,
    Location,
    Lot,
    Product,
    Substance,
    Unit,
)


class Quantity(TypedDict):
    max_digits: int
    decimal_places: int
    min_value: int


QTY: Quantity = {"max_digits": 12, "decimal_places": 3, "min_value": 0}


def _lots(clinic):
    return (
        Lot.objects.for_clinic(clinic)
        .select_related("product")
        .order_by("product__name", "expiry", "number")
    )


class LotChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Lot) -> str:
        return f"{obj.product.name} · lot {obj.number} · exp {obj.expiry:%Y-%m-%d}"


class ClinicDateTimeField(forms.DateTimeField):
    """A date and time typed in the clinic's time zone (`tz`), whatever the request's."""

    tz = None

    def to_python(self, value):
        if self.tz is None:
            return super().to_python(value)
        with timezone.override(self.tz):
            return super().to_python(value)


class ClinicForm(forms.Form):
    """A form whose choices come from one clinic."""

    def __init__(self, *args, clinic, **kwargs):
        super().__init__(*args, **kwargs)
        self.clinic = clinic
        if "lot" in self.fields:
            self.fields["lot"].queryset = _lots(clinic)
        for name in ("location", "from_location", "to_location"):
            if name in self.fields:
                self.fields[name].queryset = (
                    Location.objects.for_clinic(clinic).filter(is_active=True).order_by("name")
                )
        if "product" in self.fields:
            self.fields["product"].queryset = (
                Product.objects.for_clinic(clinic).filter(is_active=True).order_by("name")
            )


class WitnessFields(forms.Form):
    witness = forms.CharField(
        label="Witness username",
        max_length=150,
        help_text="A second nurse or physician, not you.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "none"}),
    )
    witness_password = forms.CharField(
        label="Witness's own password",
        required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text="The witness types it on this tablet.",
    )
    witness_code = forms.CharField(
        label="or their authenticator code",
        required=False,
        max_length=12,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code"}),
    )


class ProductForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="e.g. Ketamine 50 mg/mL, 10 mL vial")
    substance = forms.ChoiceField(choices=Substance.choices)
    ndc = forms.CharField(label="NDC", max_length=13)
    form = forms.CharField(max_length=100, required=False, help_text="e.g. multi-dose vial")
    strength = forms.CharField(max_length=60, required=False, help_text="e.g. 50 mg/mL")
    unit = forms.ChoiceField(choices=Unit.choices)
    mg_per_unit = forms.DecimalField(label="mg per unit", **QTY)
    units_per_container = forms.DecimalField(
        label="Units per container", help_text="mL per vial, or devices per kit", **QTY
    )


class ReceiveForm(ClinicForm):
    product = forms.ModelChoiceField(queryset=Product.objects.none())
    lot = forms.CharField(label="Lot number", max_length=60)
    expiry = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    containers = forms.IntegerField(
        min_value=1, max_value=10000, help_text="Sealed vials or device kits received"
    )
    location = forms.ModelChoiceField(queryset=Location.objects.none(), required=False)
    supplier_name = forms.CharField(label="Supplier name", max_length=200)
    supplier_address = forms.CharField(label="Supplier address", max_length=300)
    supplier_dea_number = forms.CharField(label="Supplier DEA number", max_length=20)
    invoice = forms.CharField(label="Invoice / packing slip", max_length=100, required=False)


class AdministerForm(ClinicForm):
    lot = LotChoice(queryset=Lot.objects.none())
    quantity = forms.DecimalField(help_text="In the product's unit (mL or devices)", **QTY)
    patient_mrn = forms.CharField(label="Patient MRN", max_length=32)
    session_ref = forms.CharField(label="Treatment session", max_length=64)
    given_at = ClinicDateTimeField(
        label="Given at",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    location = forms.ModelChoiceField(queryset=Location.objects.none(), required=False)

    def __init__(self, *args, clinic, **kwargs):
        super().__init__(*args, clinic=clinic, **kwargs)
        given_at = self.fields["given_at"]
        given_at.tz = clinic.tz
        given_at.initial = timezone.localtime(timezone=clinic.tz).strftime("%Y-%m-%dT%H:%M")


class WasteForm(ClinicForm, WitnessFields):
    lot = LotChoice(queryset=Lot.objects.none())
    quantity = forms.DecimalField(help_text="The remainder not given", **QTY)
    manner = forms.CharField(
        max_length=200,
        initial="Into the drug-disposal container",
        help_text="How it was wasted",
    )
    patient_mrn = forms.CharField(label="Patient MRN", max_length=32, required=False)
    session_ref = forms.CharField(label="Treatment session", max_length=64, required=False)
    location = forms.ModelChoiceField(queryset=Location.objects.none(), required=False)

    field_order = [
        "lot",
        "quantity",
        "manner",
        "patient_mrn",
        "session_ref",
        "location",
        "witness",
        "witness_password",
        "witness_code",
    ]


class WitnessForm(forms.Form):
    username = forms.CharField(
        label="Witness username",
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "none"}),
    )
    password = forms.CharField(
        label="Witness's own password",
        required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
    )
    code = forms.CharField(
        label="or their authenticator code",
        required=False,
        max_length=12,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code"}),
    )


class DestroyForm(ClinicForm, WitnessFields):
    lot = LotChoice(queryset=Lot.objects.none())
    quantity = forms.DecimalField(**QTY)
    manner = forms.CharField(max_length=200, initial="Rendered non-retrievable on site")
    reason = forms.CharField(max_length=300, required=False, help_text="e.g. expired")
    location = forms.ModelChoiceField(queryset=Location.objects.none(), required=False)
    field_order = [
        "lot",
        "quantity",
        "manner",
        "reason",
        "location",
        "witness",
        "witness_password",
        "witness_code",
    ]


class ReturnForm(ClinicForm):
    lot = LotChoice(queryset=Lot.objects.none())
    quantity = forms.DecimalField(**QTY)
    manner = forms.CharField(
        max_length=200,
        label="Returned to",
        help_text="Supplier or reverse distributor, with its DEA number",
    )
    location = forms.ModelChoiceField(queryset=Location.objects.none(), required=False)


class AdjustForm(ClinicForm, WitnessFields):
    lot = LotChoice(queryset=Lot.objects.none())
    delta = forms.DecimalField(
        label="Change", max_digits=12, decimal_places=3, help_text="Negative to lower the balance"
    )
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 2}))
    location = forms.ModelChoiceField(queryset=Location.objects.none(), required=False)
    field_order = [
        "lot",
        "delta",
        "reason",
        "location",
        "witness",
        "witness_password",
        "witness_code",
    ]


class LossForm(ClinicForm):
    lot = LotChoice(queryset=Lot.objects.none())
    quantity = forms.DecimalField(**QTY)
    circumstances = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    discovered_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    theft_suspected = forms.BooleanField(required=False, label="Theft suspected")
    location = forms.ModelChoiceField(queryset=Location.objects.none(), required=False)

    def __init__(self, *args, clinic, **kwargs):
        super().__init__(*args, clinic=clinic, **kwargs)
        self.fields["discovered_on"].initial = clinic.today()


class TransferForm(ClinicForm):
    lot = LotChoice(queryset=Lot.objects.none())
    containers = forms.IntegerField(min_value=1, help_text="Sealed containers to move")
    from_location = forms.ModelChoiceField(queryset=Location.objects.none())
    to_location = forms.ModelChoiceField(queryset=Location.objects.none())


MOVEMENT_FORMS = {
    "destroy": ("Destroy stock", DestroyForm),
    "return": ("Return to supplier", ReturnForm),
    "adjust": ("Adjust a balance", AdjustForm),
    "loss": ("Report a loss or theft", LossForm),
    "transfer": ("Transfer between locations", TransferForm),
}


class CountHeadForm(forms.Form):
    timing = forms.ChoiceField(choices=CountTiming.choices, widget=forms.RadioSelect)
    kind = forms.ChoiceField(choices=CountKind.choices, initial=CountKind.COUNT)
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class CorrectForm(WitnessFields):
    reason = forms.CharField(
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What was wrong. The entry stays in the ledger; a reversing entry references it.",
    )
    field_order = ["reason", "witness", "witness_password", "witness_code"]


class LocationForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="e.g. Treatment room lockbox")


class ResolveForm(WitnessFields):
    resolution = forms.ChoiceField(
        choices=[("adjust", "Adjust the ledger (co-signed)"), ("loss", "Escalate to a loss")],
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(max_length=1000, widget=forms.Textarea(attrs={"rows": 2}))
    theft_suspected = forms.BooleanField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["witness"].required = False


class LedgerFilterForm(ClinicForm):
    product = forms.ModelChoiceField(queryset=Product.objects.none(), required=False)
    lot = LotChoice(queryset=Lot.objects.none(), required=False)
    start = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


class ReportForm(LedgerFilterForm):
    report = forms.ChoiceField(
        choices=[
            ("receipts", "Receipts"),
            ("administrations", "Administrations"),
            ("disposals", "Disposals (waste, destruction, return)"),
            ("counts", "Inventories and counts"),
            ("ledger", "Complete ledger"),
            ("expiring", "Lots expiring in the next 60 days"),
        ]
    )
    fmt = forms.ChoiceField(label="Format", choices=[("pdf", "PDF"), ("csv", "CSV")])

    field_order = ["report", "product", "lot", "start", "end", "fmt"]


class SettingsForm(forms.ModelForm):
    class Meta:
        model = InventorySettings
        fields = ["inventory_interval_months"]
        labels = {
            "inventory_interval_months": "Complete inventory",
            "remind_days_before": "Remind this many days before",
        }
