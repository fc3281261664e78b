"""Where each role lands after log-in: the page where its work is.

This sits above every app (it routes into the schedule, the chair board and the set-up
checklist), so it lives beside the URL conf rather than in accounts.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from ketaclinic.accounts.access import current_membership, is_portal_user
from ketaclinic.accounts.roles import Role, may
from ketaclinic.setup.checklist import checklist, complete

ROLE_HOME = {
    Role.FRONT_DESK: "schedule_today",
    Role.NURSE: "treatment_board",
    Role.PHYSICIAN: "schedule_my_day",
    Role.THERAPIST: "schedule_caseload",
    Role.BILLER: "billing_home",
    Role.EDITOR: "website_moderation",
}


@login_required
def home(request: HttpRequest) -> HttpResponse:
    membership = current_membership(request)
    if membership is None:
        if is_portal_user(request.user):
            return redirect("portal_home")  # a patient lands in their own portal
        return redirect("choose_clinic")
    if may(membership.role, "floor.manage") and not complete(checklist(membership.clinic)):
        # A new clinic's admin lands on the set-up checklist until every step is done.
        return redirect("setup_home")
    if membership.role in ROLE_HOME:
        return redirect(ROLE_HOME[Role(membership.role)])
    return redirect("patient_search")
