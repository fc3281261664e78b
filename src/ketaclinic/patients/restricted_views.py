"""Pages for restricted charts: break-glass, the chart's restriction, the admins' review list."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render

from ketaclinic.accounts.access import ClinicRequest, require
from ketaclinic.accounts.models import Membership
from ketaclinic.accounts.roles import Role
from ketaclinic.patients import restricted
from ketaclinic.patients.models import CareTeamMember


def _errors(exc: ValidationError) -> dict[str, list[str]]:
    found = exc.message_dict if hasattr(exc, "error_dict") else {"general": exc.messages}
    if "__all__" in found:
        found["general"] = found.pop("__all__")
    return found


@require("breakglass.open")
def break_glass(request: ClinicRequest, patient_id: int) -> HttpResponse:
    """The form that opens a restricted chart for a limited time, with a stated reason."""
    actor = request.actor
    patient = restricted.patient_in_clinic(actor, patient_id)
    next_path = restricted.safe_next(request, patient.pk)
    if restricted.may_open(actor, patient):
        return redirect(next_path)
    errors: dict[str, list[str]] = {}
    reason = ""
    if request.method == "POST":
        reason = request.POST.get("reason", "")
        try:
            restricted.break_glass(actor=actor, patient=patient, reason=reason)
        except ValidationError as exc:
            errors = _errors(exc)
        else:
            messages.warning(
                request,
                f"Break-glass: this chart is open to you for {restricted.BREAK_GLASS_MINUTES} "
                "minutes. The clinic's admins have been told and will review it.",
            )
            return redirect(next_path)
    status = 422 if errors else 200
    return render(
        request,
        "patients/break_glass.html",
        {
            "patient": patient,
            "next": next_path,
            "reason": reason,
            "errors": errors,
            "minutes": restricted.BREAK_GLASS_MINUTES,
            "reason_min": restricted.REASON_MIN,
            "reason_max": restricted.REASON_MAX,
        },
        status=status,
    )


@require("patient.restrict")
def restriction(request: ClinicRequest, patient_id: int) -> HttpResponse:
    """Mark a chart restricted and name its care team (the chart itself is not shown here)."""
    actor = request.actor
    patient = restricted.patient_in_clinic(actor, patient_id)
    staff = list(
        Membership.objects.active()
        .filter(clinic=actor.clinic)
        .exclude(role=Role.PATIENT)
        .select_related("user")
        .order_by("user__last_name", "user__first_name", "pk")
    )
    team = set(
        CareTeamMember.objects.filter(patient=patient).values_list("membership_id", flat=True)
    )
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        wanted = request.POST.get("restricted") == "on"
        chosen: list[int] = []
        for raw in request.POST.getlist("care_team"):
            if not raw.isdigit() or len(raw) > 18:  # not an id (or beyond a 64-bit one)
                errors = {"care_team": ["Choose staff members of this clinic."]}
                break
            chosen.append(int(raw))
        if not errors:
            try:
                restricted.set_restriction(
                    actor=actor, patient=patient, restricted=wanted, care_team=chosen
                )
            except ValidationError as exc:
                errors = _errors(exc)
            else:
                messages.success(
                    request,
                    "Chart restricted to its care team."
                    if wanted
                    else "Chart no longer restricted.",
                )
                return redirect("patient_restriction", patient_id=patient.pk)
        team = set(chosen)
    return render(
        request,
        "patients/restriction.html",
        {
            "patient": patient,
            "staff": staff,
            "team": team,
            "errors": errors,
            "minutes": restricted.BREAK_GLASS_MINUTES,
        },
        status=422 if errors else 200,
    )


@require("breakglass.review")
def break_glass_reviews(request: ClinicRequest) -> HttpResponse:
    """Every break-glass opening not yet reviewed, oldest first; the review form on each."""
    actor = request.actor
    errors: dict[str, list[str]] = {}
    failed = None
    if request.method == "POST":
        failed = request.POST.get("grant", "")
        try:
            restricted.review_break_glass(
                actor=actor, grant_id=failed, note=request.POST.get("note", "")
            )
        except ValidationError as exc:
            errors = _errors(exc)
        else:
            messages.success(request, "Break-glass opening reviewed.")
            return redirect("break_glass_reviews")
    return render(
        request,
        "patients/break_glass_reviews.html",
        {
            "pending": list(restricted.pending_reviews(actor)[:200]),
            "done": restricted.reviewed(actor),
            "errors": errors,
            "failed": failed,
            "note": request.POST.get("note", "") if errors else "",
            "section": "break_glass",
        },
        status=422 if errors else 200,
    )
