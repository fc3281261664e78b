from __future__ import annotations

from django import forms

from ketaclinic.accounts.roles import STAFF_ROLES
from ketaclinic.accounts.services import USERNAME_HELP


class StaffForm(forms.Form):
    username = forms.CharField(max_length=150, help_text=USERNAME_HELP)
    first_name = forms.CharField(max_length=150)
    last_name = forms.CharField(max_length=150)
    email = forms.EmailField(required=False)
    role = forms.ChoiceField(
        choices=[("", "Choose a role")] + [(r.value, r.label) for r in STAFF_ROLES]
    )
    password = forms.CharField(
        widget=forms.PasswordInput,
        required=False,
        help_text="For a new account: a temporary password to hand over in person. "
        "An existing account keeps its own password.",
    )


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, label="Label", help_text="e.g. chair tablet 3")
    otp_code = forms.CharField(
        max_length=8,
        required=False,
        label="Code from your authenticator",
        help_text="Your clinic requires two-factor: a token is created only with a fresh code.",
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code"}),
    )


class OtpForm(forms.Form):
    code = forms.CharField(
        max_length=16,
        label="6-digit code (or a recovery code)",
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code"}),
    )


class ClinicSettingsForm(forms.Form):
    require_two_factor = forms.BooleanField(
        required=False, label="Require two-factor log-in for all staff"
    )
    grace_days = forms.IntegerField(
        min_value=0,
        max_value=30,
        initial=7,
        label="Days staff may keep working before they must enrol",
        help_text="Signed-in staff are asked to enrol at once but are not locked out mid-shift.",
    )
