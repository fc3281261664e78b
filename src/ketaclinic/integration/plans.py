"""Treatment plans (goals in the patient's words, measures, interventions, review date)
and homework between sessions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.audit.services import record
from ketaclinic.integration.models import (
    GoalRating,
    Homework,
    HomeworkKind,
    MeasureKind,
    PlanGoal,
    TreatmentPlan,
)
from ketaclinic.measures.models import Response
from ketaclinic.measures.registry import instruments
from ketaclinic.patients.models import Patient
from ketaclinic.patients.services import StaleVersion

MAX_GOALS = 6


def _text(value: Any, field: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError({field: "Give text."})
    if "\x00" in value:
        raise ValidationError({field: "This contains a character that cannot be stored."})
    value = value.strip()
    if len(value) > limit:
        raise ValidationError({field: f"Keep this under {limit} characters."})
    return value


def _number(value: Any, field: str) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValidationError({field: "Give a number."}) from None
    if not number.is_finite():
        raise ValidationError({field: "Give a number."})
    return number


def _scale(goal: dict[str, Any], index: int) -> tuple[Decimal, Decimal]:
    measure = goal.get("measure")
    if measure == MeasureKind.INSTRUMENT:
        code = goal.get("instrument")
        found = instruments().get(code) if isinstance(code, str) else None
        if found is None:
            raise ValidationError({f"goals.{index}.instrument": "Choose a questionnaire."})
        low, high = found.score_range()
        return Decimal(low), Decimal(high)
    return Decimal(0), Decimal(10)


def clean_goals(goals: Any) -> list[dict[str, Any]]:
    if not isinstance(goals, list):
        raise ValidationError({"goals": "Give the goals as a list."})
    if len(goals) > MAX_GOALS:
        raise ValidationError({"goals": f"Keep to {MAX_GOALS} goals."})
    cleaned = []
    for index, goal in enumerate(goals):
        if not isinstance(goal, dict):
            raise ValidationError({f"goals.{index}": "Give each goal as an object."})
        words = _text(goal.get("words"), f"goals.{index}.words", 300)
        if not words:
            raise ValidationError(
                {f"goals.{index}.words": "Write the goal in the patient's words."}
            )
        measure = goal.get("measure")
        if measure not in MeasureKind.values:
            raise ValidationError({f"goals.{index}.measure": "Choose instrument, nrs or personal."})
        low, high = _scale(goal, index)
        target = _number(goal.get("target"), f"goals.{index}.target")
        baseline = _number(goal.get("baseline"), f"goals.{index}.baseline")
        if target is None:
            raise ValidationError({f"goals.{index}.target": "Give the target."})
        for name, value in (("target", target), ("baseline", baseline)):
            if value is not None and not low <= value <= high:
                raise ValidationError(
                    {f"goals.{index}.{name}": f"This scale runs from {low} to {high}."}
                )
        cleaned.append(
            {
                "words": words,
                "measure": measure,
                "instrument": goal.get("instrument") if measure == MeasureKind.INSTRUMENT else "",
                "scale_label": _text(goal.get("scale_label"), f"goals.{index}.scale_label", 80)
                if measure == MeasureKind.PERSONAL
                else "",
                "baseline": baseline,
                "target": target,
            }
        )
    return cleaned


@transaction.atomic
def save_plan(
    *,
    actor: Actor,
    patient: Patient,
    goals: Any,
    interventions: str,
    review_on: date | None,
    version: int | None = None,
) -> TreatmentPlan:
    """Create or replace the plan; a stale ``version`` is refused (StaleVersion -> 409)."""
    actor.check("integration.plan")
    cleaned = clean_goals(goals)
    interventions = _text(interventions, "interventions", 4000)
    if review_on is None:
        raise ValidationError({"review_on": "Give the date the plan is reviewed."})
    today = actor.clinic.today()
    if review_on < today:
        raise ValidationError({"review_on": "The review date has passed."})
    if (review_on - today).days > 366:
        raise ValidationError({"review_on": "Review the plan within a year."})
    plan = TreatmentPlan.objects.select_for_update().filter(patient=patient).first()
    if plan is None:
        plan = TreatmentPlan.objects.create(
            clinic=actor.clinic,
            patient=patient,
            interventions=interventions,
            review_on=review_on,
            updated_by=actor.user,
        )
        action = "plan_create"
    else:
        if version is not None and version != plan.version:
            raise StaleVersion()
        plan.interventions, plan.review_on = interventions, review_on
        plan.updated_by, plan.updated_at = actor.user, timezone.now()
        plan.version += 1
        plan.save()
        action = "plan_update"
    existing = list(plan.goals.order_by("position", "pk"))
    for position, goal in enumerate(cleaned):
        row = existing[position] if position < len(existing) else PlanGoal(plan=plan)
        for key, value in goal.items():
            setattr(row, key, value)
        row.position = position
        row.save()
    for extra in existing[len(cleaned) :]:
        extra.delete()
    record(actor, action, patient_id=patient.pk, obj=plan, detail={"goals": len(cleaned)})
    return plan


@dataclass(frozen=True)
class GoalProgress:
    goal: PlanGoal
    latest: Decimal | None
    latest_at: Any
    reached: bool | None
    label: str


def goal_progress(plan: TreatmentPlan | None) -> list[GoalProgress]:
    """Each goal with its latest value (a questionnaire total or the latest rating).

    Three queries whatever the history: the goals, their latest ratings, the latest totals.
    """
    if plan is None:
        return []
    goals = list(plan.goals.all())
    codes = {g.instrument for g in goals if g.measure == MeasureKind.INSTRUMENT}
    latest_total: dict[str, tuple[Any, Any]] = {}
    if codes:
        for code, total, at in (
            Response.objects.filter(
                clinic_id=plan.clinic_id,
                patient_id=plan.patient_id,
                instrument__in=codes,
                total__isnull=False,
            )
            .order_by("instrument", "-taken_at", "-pk")
            .values_list("instrument", "total", "taken_at")[:200]
        ):
            latest_total.setdefault(code, (total, at))
    latest_rating: dict[int, tuple[Any, Any]] = {}
    for goal_id, rating, at in (
        GoalRating.objects.filter(goal__in=goals)
        .order_by("goal_id", "-at", "-pk")
        .values_list("goal_id", "value", "at")[:500]
    ):
        latest_rating.setdefault(goal_id, (rating, at))
    rows = []
    for goal in goals:
        raw, at = (
            latest_total.get(goal.instrument, (None, None))
            if goal.measure == MeasureKind.INSTRUMENT
            else latest_rating.get(goal.pk, (None, None))
        )
        value = Decimal(raw) if raw is not None else None
        reached = None
        if value is not None:
            # Lower is better when the target is below the baseline (symptom scores).
            lower_better = goal.baseline is None or goal.target <= goal.baseline
            reached = value <= goal.target if lower_better else value >= goal.target
        label = (
            instruments()[goal.instrument].title
            if goal.measure == MeasureKind.INSTRUMENT and goal.instrument in instruments()
            else (goal.scale_label or goal.get_measure_display())
        )
        rows.append(GoalProgress(goal, value, at, reached, label))
    return rows


@transaction.atomic
def rate_goal(*, actor: Actor, goal: PlanGoal, value: Any) -> GoalRating:
    actor.check("integration.plan")
    if goal.measure == MeasureKind.INSTRUMENT:
        raise ValidationError({"value": "This goal is measured by its questionnaire."})
    number = _number(value, "value")
    if number is None or not Decimal(0) <= number <= Decimal(10):
        raise ValidationError({"value": "Give a rating from 0 to 10."})
    rating = GoalRating.objects.create(goal=goal, value=number, by=actor.user)
    record(
        actor,
        "goal_rating",
        patient_id=goal.plan.patient_id,
        obj=goal.plan,
        detail={"goal": goal.pk},
    )
    return rating


@transaction.atomic
def add_homework(
    *,
    actor: Actor,
    patient: Patient,
    kind: str,
    title: str,
    instructions: str = "",
    due_on: date | None = None,
) -> Homework:
    actor.check("integration.plan")
    if kind not in HomeworkKind.values:
        raise ValidationError({"kind": "Choose journal, breathing, walking or other."})
    title = _text(title, "title", 120)
    if not title:
        raise ValidationError({"title": "Name the practice."})
    instructions = _text(instructions, "instructions", 2000)
    today = actor.clinic.today()
    if due_on is not None and (due_on < today or (due_on - today).days > 180):
        raise ValidationError({"due_on": "Give a due date within the next six months."})
    homework = Homework.objects.create(
        clinic=actor.clinic,
        patient=patient,
        kind=kind,
        title=title,
        instructions=instructions,
        due_on=due_on,
        created_by=actor.user,
    )
    record(actor, "homework_add", patient_id=patient.pk, obj=homework, detail={"kind": kind})
    return homework


@transaction.atomic
def mark_homework_done(*, actor: Actor, homework: Homework) -> Homework:
    """Mark done as the patient reported it (the patient portal will call this for them)."""
    actor.check("integration.plan")
    locked = Homework.objects.select_for_update().get(pk=homework.pk)
    if locked.done_at is None:
        locked.done_at = timezone.now()
        locked.save(update_fields=["done_at"])
        record(actor, "homework_done", patient_id=locked.patient_id, obj=locked)
    return locked
