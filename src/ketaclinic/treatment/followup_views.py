"""The follow-up call work list and the form a nurse fills in during the call."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render

from ketaclinic.accounts.access import ClinicRequest, require
from ketaclinic.accounts.form_errors import add_errors
from ketaclinic.audit.services import record
from ketaclinic.treatment import followup
from ketaclinic.treatment.models import FollowUpAttempt

PAGE_SIZE = 50


class CallForm(forms.Form):
    reached = forms.TypedChoiceField(
        label="Did you reach the patient?",
        choices=[("yes", "Reached"), ("no", "Not reached (the call stays on the list)")],
        coerce=lambda v: v == "yes",
        widget=forms.RadioSelect,
    )
    suicidality = forms.TypedChoiceField(
        label="New thoughts of suicide or self-harm?",
        choices=[
            ("", "Not asked (not reached)"),
            ("no", "No"),
            ("yes", "Yes: opens an urgent alert"),
        ],
        coerce=lambda v: v == "yes",
        empty_value=None,
        required=False,
        widget=forms.RadioSelect,
    )
    side_effects = forms.MultipleChoiceField(
        label="Side effects since the session",
        choices=list(FollowUpAttempt.SIDE_EFFECTS.items()),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    symptoms = forms.CharField(
        label="What the patient reported",
        required=False,
        max_length=followup.MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


@require("followup.view")
def follow_up_calls(request: ClinicRequest) -> HttpResponse:
    """Unanswered follow-up calls, oldest first, each with its age in days."""
    actor = request.actor
    today = actor.clinic.today()
    calls = list(followup.open_calls(actor.clinic)[:PAGE_SIZE])
    rows = [
        {
            "call": call,
            "age_days": (today - call.due_on).days,
            "attempts": len(call.attempts.all()),
            "due": call.due_on <= today,
        }
        for call in calls
    ]
    record(
        actor,
        "view",
        detail={"what": "follow_up_calls", "patients": sorted({c.patient_id for c in calls})},
    )
    return render(request, "treatment/follow_up_calls.html", {"rows": rows, "today": today})


@require("followup.view")
def follow_up_call(request: ClinicRequest, call_id: int) -> HttpResponse:
    """One follow-up call: the session it follows, earlier attempts, and the call form."""
    actor = request.actor
    call = followup.get_call_for(actor, call_id)
    form = CallForm(request.POST or None)
    status = 200
    if request.method == "POST":
        actor.check("followup.call")
        if form.is_valid():
            data = form.cleaned_data
            try:
                _attempt, alert = followup.record_attempt(
                    actor=actor,
                    call=call,
                    reached=data["reached"],
                    suicidality=data["suicidality"] if data["reached"] else None,
                    side_effects=data["side_effects"],
                    symptoms=data["symptoms"],
                )
            except ValidationError as exc:
                add_errors(form, exc)
            else:
                if alert is not None:
                    messages.warning(request, "Urgent suicidality alert opened: see Alerts.")
                messages.success(
                    request,
                    "Call recorded."
                    if data["reached"]
                    else "Attempt recorded; the call stays open.",
                )
                return redirect("treatment_follow_up_calls")
        status = 422
    record(actor, "view", patient_id=call.patient_id, obj=call)
    return render(
        request,
        "treatment/follow_up_call.html",
        {
            "call": call,
            "patient": call.patient,
            "attempts": list(call.attempts.select_related("by")),
            "form": form,
            "side_effect_labels": FollowUpAttempt.SIDE_EFFECTS,
        },
        status=status,
    )
