"""The end-of-induction review page: the outcome numbers, then the physician's signed decision."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render

from ketaclinic.accounts.access import ClinicRequest, require
from ketaclinic.audit.services import record
from ketaclinic.measures import services as measures_services
from ketaclinic.scheduling import reviews
from ketaclinic.scheduling.access import get_course_for
from ketaclinic.scheduling.models import ReviewDecision
from ketaclinic.scheduling.services import course_protocol


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(
        label="Decision", choices=ReviewDecision.choices, widget=forms.RadioSelect
    )
    maintenance_sessions = forms.IntegerField(
        label="Maintenance sessions to plan",
        required=False,
        min_value=1,
        max_value=reviews.MAX_MAINTENANCE_SESSIONS,
        help_text="For continue or change; the protocol's first maintenance phase is filled in.",
    )
    reason = forms.CharField(
        label="Reason / what changes",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Required for change or stop.",
    )


@require("clinical.view")
def induction_review(request: ClinicRequest, course_id: int) -> HttpResponse:
    """Show the course's end-of-induction review; a physician signs it here."""
    actor = request.actor
    course = get_course_for(actor, course_id, "clinical.view")
    state = reviews.review_state(course)
    protocol = course_protocol(course)
    can_sign = actor.may("medical.sign") and state.due
    initial = {"maintenance_sessions": reviews.maintenance_default(protocol)}
    form = ReviewForm(request.POST or None, initial=initial)
    if request.method == "POST":
        actor.check("medical.sign")
        if form.is_valid():
            data = form.cleaned_data
            try:
                reviews.record_review(
                    actor=actor,
                    course=course,
                    decision=data["decision"],
                    reason=data["reason"],
                    maintenance_sessions=data["maintenance_sessions"],
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(request, "End-of-induction review signed.")
                return redirect("patient_chart", patient_id=course.patient_id)
    outcomes = (
        state.review.outcomes
        if state.review
        else measures_services.outcomes_for(actor=actor, patient=course.patient)
    )
    record(
        actor, "view", patient_id=course.patient_id, obj=course, detail={"what": "induction_review"}
    )
    return render(
        request,
        "scheduling/induction_review.html",
        {
            "patient": course.patient,
            "course": course,
            "protocol": protocol,
            "state": state,
            "outcomes": reviews.outcome_rows(outcomes),
            "form": form,
            "can_sign": can_sign,
        },
        status=422 if request.method == "POST" else 200,
    )
