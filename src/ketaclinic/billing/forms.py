"""Billing forms: the clinic's profile, payers, fees, provider NPIs, coverage, payments."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any, cast

from django import forms

from ketaclinic.billing.models import (
    BillingProfile,
    Coverage,
    Fee,
    Payer,
    ProviderNumber,
)
from ketaclinic.billing.numbers import digits, npi_valid, tin_valid


def _npi(value: str) -> str:
    value = digits(value)
    if not npi_valid(value):
        raise forms.ValidationError("This NPI fails its check digit (10 digits, Luhn with 80840).")
    return value


class ProfileForm(forms.ModelForm):
    class Meta:
        model = BillingProfile
        fields = [
            "legal_name",
            "npi",
            "tin",
            "taxonomy",
            "address_line",
            "city",
            "state",
            "zip_code",
            "phone",
            "place_of_service",
            "submitter_id",
            "receiver_id",
            "bills_from",
        ]
        widgets = {"bills_from": forms.DateInput(attrs={"type": "date"})}

    def __init__(self, *args: Any, clinic: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.today = clinic.today()

    def clean_npi(self) -> str:
        return _npi(self.cleaned_data["npi"])

    def clean_tin(self) -> str:
        tin = self.cleaned_data["tin"]
        if not tin_valid(tin):
            raise forms.ValidationError("Enter the nine-digit EIN, e.g. 12-3456789.")
        return tin

    def clean_state(self) -> str:
        state = self.cleaned_data["state"].upper()
        if not (len(state) == 2 and state.isalpha()):
            raise forms.ValidationError("Two letters, e.g. ME.")
        return state

    def clean_zip_code(self) -> str:
        zip_code = digits(self.cleaned_data["zip_code"])
        if len(zip_code) != 9:
            raise forms.ValidationError("Claims need the nine-digit ZIP+4, e.g. 04101-1234.")
        return f"{zip_code[:5]}-{zip_code[5:]}"

    def clean_place_of_service(self) -> str:
        pos = self.cleaned_data["place_of_service"]
        if not (len(pos) == 2 and pos.isdigit()):
            raise forms.ValidationError("Two digits (11 is an office).")
        return pos

    def clean_bills_from(self) -> date | None:
        first_day = self.cleaned_data["bills_from"]
        if first_day and first_day > self.today + timedelta(days=366):
            # A mistyped year would silently stop every proposal.
            raise forms.ValidationError("Choose a day within a year from today.")
        return first_day

    def clean_taxonomy(self) -> str:
        tax = self.cleaned_data["taxonomy"].upper()
        if len(tax) != 10 or not tax.isalnum():
            raise forms.ValidationError("A taxonomy code has ten characters, e.g. 2084P0800X.")
        return tax


class PayerForm(forms.ModelForm):
    companion = forms.CharField(
        label="Esketamine E/M or observation codes (J0013 payers)",
        required=False,
        max_length=60,
        help_text="Comma-separated, as this payer's policy asks, e.g. 99213.",
    )

    class Meta:
        model = Payer
        fields = ["name", "payer_id", "kind", "in_network"]

    def clean_companion(self) -> list[str]:
        codes = [c.strip().upper() for c in self.cleaned_data["companion"].split(",") if c.strip()]
        if len(codes) > 4 or any(len(c) != 5 or not c.isalnum() for c in codes):
            raise forms.ValidationError("Up to four five-character codes.")
        return codes


class FeeForm(forms.ModelForm):
    class Meta:
        model = Fee
        fields = ["schedule", "code", "description", "price", "effective_from", "effective_to"]
        widgets = {
            "effective_from": forms.DateInput(attrs={"type": "date"}),
            "effective_to": forms.DateInput(attrs={"type": "date"}),
        }

    def clean_code(self) -> str:
        code = self.cleaned_data["code"].upper()
        if len(code) != 5 or not code.isalnum():
            raise forms.ValidationError("A CPT/HCPCS code has five letters or digits.")
        return code

    def clean_price(self) -> Decimal:
        price = self.cleaned_data["price"]
        if price < 0 or price > Decimal("99999"):
            raise forms.ValidationError("From 0 to 99999.")
        return price

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("effective_from"), data.get("effective_to")
        if start and end and end < start:
            self.add_error("effective_to", "The end is before the start.")
        return data


class ProviderForm(forms.ModelForm):
    class Meta:
        model = ProviderNumber
        fields = ["membership", "npi", "taxonomy"]

    def __init__(self, *args: Any, clinic: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from ketaclinic.accounts.models import Membership

        field = cast(forms.ModelChoiceField, self.fields["membership"])
        field.queryset = Membership.objects.filter(
            clinic=clinic, role__in=["physician", "therapist"], is_active=True
        ).select_related("user")
        field.label = "Physician or therapist"

    def clean_npi(self) -> str:
        return _npi(self.cleaned_data["npi"])


class CoverageForm(forms.ModelForm):
    class Meta:
        model = Coverage
        fields = [
            "payer",
            "member_id",
            "group_number",
            "relationship",
            "subscriber_given_name",
            "subscriber_family_name",
            "subscriber_birth_date",
            "subscriber_sex",
            "address_line",
            "city",
            "state",
            "zip_code",
            "priority",
        ]
        widgets = {
            "subscriber_birth_date": forms.DateInput(attrs={"type": "date"}),
            "subscriber_sex": forms.Select(
                choices=[("F", "Female"), ("M", "Male"), ("U", "Unknown")]
            ),
        }

    def __init__(self, *args: Any, clinic: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        payer = cast(forms.ModelChoiceField, self.fields["payer"])
        payer.queryset = Payer.objects.for_clinic(clinic).filter(is_active=True)
        self.fields["priority"].widget = forms.Select(choices=[(1, "Primary"), (2, "Secondary")])

    def clean_state(self) -> str:
        state = self.cleaned_data["state"].upper()
        if not (len(state) == 2 and state.isalpha()):
            raise forms.ValidationError("Two letters, e.g. ME.")
        return state

    def clean_zip_code(self) -> str:
        zip_code = digits(self.cleaned_data["zip_code"])
        if len(zip_code) not in (5, 9):
            raise forms.ValidationError("Five or nine digits.")
        return zip_code

    def clean_subscriber_sex(self) -> str:
        sex = self.cleaned_data["subscriber_sex"]
        if sex not in ("F", "M", "U"):
            raise forms.ValidationError("Female, male or unknown.")
        return sex


class PaymentForm(forms.Form):
    amount = forms.DecimalField(
        min_value=Decimal("0.01"), max_value=Decimal("100000"), decimal_places=2, max_digits=9
    )
    method = forms.ChoiceField(
        choices=[("card", "Card"), ("cash", "Cash"), ("check", "Check"), ("eft", "Bank transfer")]
    )
    source = forms.ChoiceField(choices=[("patient", "Patient"), ("payer", "Payer")])
    payer = forms.ModelChoiceField(queryset=Payer.objects.none(), required=False)
    reference = forms.CharField(max_length=50, required=False)
    received_on = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, clinic: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["payer"]).queryset = Payer.objects.for_clinic(
            clinic
        )


class EditLineForm(forms.Form):
    code = forms.CharField(max_length=5)
    modifiers = forms.CharField(max_length=20, required=False)
    units = forms.CharField(max_length=12)
    ndc = forms.CharField(max_length=13, required=False, label="NDC")
    ndc_quantity = forms.CharField(max_length=12, required=False, label="NDC quantity")
    diagnosis_pointers = forms.CharField(max_length=12, label="Diagnosis pointers")
    reason = forms.CharField(max_length=300)
    # The line's version the biller loaded (a stale one is refused, not overwritten).
    version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)


class RemittanceForm(forms.Form):
    file = forms.FileField(label="835 remittance file")


class SuperbillRangeForm(forms.Form):
    """The portal's superbill for a date range (the patient's own reviewed visits)."""

    start = forms.DateField(
        label="From",
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "Enter the first day as a date, e.g. 2026-01-31."},
    )
    end = forms.DateField(
        label="To",
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "Enter the last day as a date, e.g. 2026-03-31."},
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            self.add_error("end", "The end date is before the start date.")
        return data
