"""Reading the audit log (admins), shared by the page and the API."""

from __future__ import annotations

from datetime import date

from django.db.models import BooleanField, ExpressionWrapper, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Membership
from ketaclinic.audit.models import AuditEvent, AuditSeal
from ketaclinic.audit.services import record


def events_for(
    actor: Actor,
    *,
    patient_id: int | None = None,
    username: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[AuditEvent]:
    """The clinic's events, newest first, filtered; dates are days in the clinic's time zone.

    Log-ins, failed log-ins and lockouts belong to no clinic; an admin sees those of the
    clinic's own members. Reading the log is itself recorded (it lists patient ids).
    """
    actor.check("audit.view")
    members = Membership.objects.filter(clinic=actor.clinic)
    record(
        actor,
        "view",
        object_type="audit.log",
        detail={
            "patient": patient_id,
            "user": username,
            "from": date_from.isoformat() if date_from else None,
            "to": date_to.isoformat() if date_to else None,
        },
    )
    events = AuditEvent.objects.filter(
        Q(clinic=actor.clinic)
        | Q(
            Q(user_id__in=members.values("user_id"))
            | Q(username__in=members.values("user__username")),
            clinic__isnull=True,
        )
    )
    if patient_id is not None:
        events = events.filter(patient_id=patient_id)
    if username:
        events = events.filter(username=username)
    lower, upper = actor.clinic.day_span(date_from, date_to)
    if lower:
        events = events.filter(at__gte=lower)
    if upper:
        events = events.filter(at__lt=upper)
    return events.annotate(sealed=_sealed()).order_by("-at", "-id")


def _sealed() -> ExpressionWrapper:
    """Whether an event is sealed: its number is within its chain's newest seal's run."""
    newest = AuditSeal.objects.filter(chain=Coalesce(OuterRef("clinic_id"), Value(0))).order_by(
        "-seq"
    )
    return ExpressionWrapper(
        Q(seq__lte=Coalesce(Subquery(newest.values("last_seq")[:1]), Value(0))),
        output_field=BooleanField(),
    )
