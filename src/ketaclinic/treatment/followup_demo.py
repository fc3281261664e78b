"""Demo follow-up calls: every dosed demo session has its call; the recent ones are still open.

Idempotent: a session that has its call is left alone.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from ketaclinic.accounts.models import Membership
from ketaclinic.treatment.models import FollowUpAttempt, FollowUpCall, State, TreatmentSession

OPEN_RECENT = 3  # the latest sessions' calls stay on the work list


def seed(clinic: Any) -> None:
    """Create the follow-up calls of the demo's dosed sessions."""
    nurse = Membership.objects.filter(clinic=clinic, role="nurse").select_related("user").first()
    if nurse is None:
        return
    sessions = list(
        TreatmentSession.objects.filter(
            clinic=clinic,
            state__in=[State.DISCHARGED, State.STOPPED],
            dose_started_at__isnull=False,
            follow_up_call__isnull=True,
        ).order_by("started_at")
    )
    keep_open = {s.pk for s in sessions[-OPEN_RECENT:]}
    today = clinic.today()
    # Written in bulk: the outcomes archive brings about a thousand sessions.
    calls: list[FollowUpCall] = []
    attempts: list[FollowUpAttempt] = []
    for index, session in enumerate(sessions):
        ended = session.discharged_at or session.updated_at
        due = timezone.localdate(ended, timezone=clinic.tz) + timedelta(days=1)
        call = FollowUpCall(
            clinic=clinic,
            patient_id=session.patient_id,
            session=session,
            due_on=due,
            created_at=ended,
        )
        calls.append(call)
        if session.pk in keep_open or due > today:
            if index % 2 == 0 and due <= today:
                attempts.append(
                    FollowUpAttempt(
                        call=call,
                        at=ended + timedelta(days=1, hours=2),
                        by=nurse.user,
                        reached=False,
                    )
                )
            continue
        at = ended + timedelta(days=1, hours=1)
        urinary = index % 7 == 3
        attempts.append(
            FollowUpAttempt(
                call=call,
                at=at,
                by=nurse.user,
                reached=True,
                suicidality=False,
                side_effects=["urinary"] if urinary else (["headache"] if index % 5 == 1 else []),
                symptoms=(
                    "Some burning on passing urine since yesterday; asked to mention it at the "
                    "next session."
                    if urinary
                    else "Slept well, mood a little brighter."
                ),
            )
        )
        call.completed_at = at
    FollowUpCall.objects.bulk_create(calls, batch_size=500)
    FollowUpAttempt.objects.bulk_create(attempts, batch_size=500)
