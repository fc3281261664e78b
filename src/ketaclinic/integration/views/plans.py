"""The treatment plan, its goals and ratings, and homework practice."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from ketaclinic.accounts.access import ClinicRequest, require
from ketaclinic.accounts.form_errors import add_errors
from ketaclinic.integration import plans
from ketaclinic.integration.forms import (
    GOAL_ROWS,
    GoalForm,
    HomeworkForm,
    PlanForm,
    RatingForm,
)
from ketaclinic.integration.models import (
    Homework,
    PlanGoal,
    TreatmentPlan,
)
from ketaclinic.measures.registry import instruments
from ketaclinic.patients.access import get_patient_for
from ketaclinic.patients.services import StaleVersion


def _instrument_choices() -> list[tuple[str, str]]:
    return sorted(((code, i.title) for code, i in instruments().items()), key=lambda c: c[1])


@require("integration.plan")
def plan_edit(request: ClinicRequest, patient_id: int) -> HttpResponse:
    actor = request.actor
    patient = get_patient_for(actor, patient_id, "integration.plan")
    plan = TreatmentPlan.objects.filter(patient=patient, clinic=actor.clinic).first()
    goals = list(plan.goals.all()) if plan else []
    choices = _instrument_choices()
    initial = (
        {"review_on": plan.review_on, "interventions": plan.interventions, "version": plan.version}
        if plan
        else {"review_on": actor.clinic.today() + timedelta(days=42)}
    )
    form = PlanForm(request.POST if request.method == "POST" else None, initial=initial)
    goal_forms = [
        GoalForm(
            request.POST if request.method == "POST" else None,
            prefix=f"goal{i}",
            instrument_choices=choices,
            initial=(
                {
                    "words": goals[i].words,
                    "measure": goals[i].measure,
                    "instrument": goals[i].instrument,
                    "scale_label": goals[i].scale_label,
                    "baseline": goals[i].baseline,
                    "target": goals[i].target,
                }
                if i < len(goals)
                else {}
            ),
        )
        for i in range(max(GOAL_ROWS, len(goals)))
    ]
    status = 200
    if request.method == "POST":
        if form.is_valid() and all(g.is_valid() for g in goal_forms):
            data = form.cleaned_data
            rows = [
                {k: v for k, v in g.cleaned_data.items()}
                for g in goal_forms
                if (g.cleaned_data.get("words") or "").strip()
            ]
            try:
                plans.save_plan(
                    actor=actor,
                    patient=patient,
                    goals=rows,
                    interventions=data["interventions"],
                    review_on=data["review_on"],
                    version=data["version"],
                )
            except StaleVersion:
                form.add_error(
                    None, "Someone else saved this plan since you opened it. Reload and try again."
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    if field.startswith("goals."):
                        parts = field.split(".")
                        index = next(
                            (
                                n
                                for n, g in enumerate(goal_forms)
                                if (g.cleaned_data.get("words") or "").strip()
                            ),
                            0,
                        )
                        filled = [
                            g for g in goal_forms if (g.cleaned_data.get("words") or "").strip()
                        ]
                        target = (
                            filled[int(parts[1])]
                            if parts[1].isdigit() and int(parts[1]) < len(filled)
                            else goal_forms[index]
                        )
                        target.add_error(
                            parts[2] if len(parts) > 2 and parts[2] in target.fields else None,
                            errors,
                        )
                    else:
                        form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(request, "Treatment plan saved.")
                return redirect("integration_patient", patient.pk)
        status = 422
    return render(
        request,
        "integration/plan_form.html",
        {"patient": patient, "form": form, "goal_forms": goal_forms, "plan": plan},
        status=status,
    )


@require_POST
@require("integration.plan")
def homework_add(request: ClinicRequest, patient_id: int) -> HttpResponse:
    actor = request.actor
    patient = get_patient_for(actor, patient_id, "integration.plan")
    form = HomeworkForm(request.POST)
    if form.is_valid():
        try:
            plans.add_homework(actor=actor, patient=patient, **form.cleaned_data)
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, "Practice added.")
            return redirect("integration_patient", patient.pk)
    return render(
        request, "integration/homework_form.html", {"patient": patient, "form": form}, status=422
    )


@require_POST
@require("integration.plan")
def homework_done(request: ClinicRequest, homework_id: int) -> HttpResponse:
    actor = request.actor
    homework = Homework.objects.for_clinic(actor.clinic).filter(pk=homework_id).first()
    if homework is None:
        raise Http404("No such practice.")
    plans.mark_homework_done(actor=actor, homework=homework)
    messages.success(request, "Marked done.")
    return redirect("integration_patient", homework.patient_id)


@require_POST
@require("integration.plan")
def goal_rate(request: ClinicRequest, goal_id: int) -> HttpResponse:
    actor = request.actor
    goal = (
        PlanGoal.objects.filter(pk=goal_id, plan__clinic=actor.clinic)
        .select_related("plan")
        .first()
    )
    if goal is None:
        raise Http404("No such goal.")
    form = RatingForm(request.POST)
    if form.is_valid():
        try:
            plans.rate_goal(actor=actor, goal=goal, value=form.cleaned_data["value"])
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, "Rating saved.")
            return redirect("integration_patient", goal.plan.patient_id)
    return render(
        request,
        "integration/rate_form.html",
        {"patient": goal.plan.patient, "goal": goal, "form": form},
        status=422,
    )
