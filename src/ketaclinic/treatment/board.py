"""The live chair board: every active session by chair, in a constant number of queries.

Five queries whatever the number of sessions or readings: chairs, active sessions
(with the latest reading id and the latest MOAA/S and CADSS-6 times as subqueries),
those latest readings, the open alerts, and the checked-in patients still waiting.
Recording the view (`record_view`) adds one read and, when something new is shown,
one insert.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import OuterRef, Prefetch, Subquery
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.audit.models import AuditEvent
from ketaclinic.audit.services import record
from ketaclinic.clinical.monitoring import DueCheck, due_checks
from ketaclinic.scheduling.models import Appointment, Room
from ketaclinic.scheduling.services import course_protocol
from ketaclinic.treatment.longterm import apply_observation
from ketaclinic.treatment.models import (
    ACTIVE_STATES,
    Observation,
    SessionAlert,
    TreatmentSession,
    VitalReading,
)

LEVEL_RANK = {"urgent": 0, "high": 1, "caution": 2}
# The board polls every 10 seconds; within this window a poll that shows the same
# patients as the user's last recorded board view is not recorded again.
AUDIT_WINDOW = timedelta(minutes=5)


@dataclass
class Chair:
    room: Room
    session: TreatmentSession | None = None
    reading: VitalReading | None = None
    due: DueCheck | None = None
    due_minutes: int | None = None
    elapsed_minutes: int | None = None
    alerts: list[SessionAlert] = field(default_factory=list)

    @property
    def worst_level(self) -> str | None:
        if not self.alerts:
            return None
        return min(self.alerts, key=lambda a: LEVEL_RANK.get(a.level, 9)).level


@dataclass
class Board:
    chairs: list[Chair]
    waiting: list[Appointment]
    elsewhere: list[Chair]


def _latest(model: Any, kind: str | None, value: str) -> Subquery:
    rows = model.objects.filter(session=OuterRef("pk"))
    if kind is not None:
        rows = rows.filter(kind=kind)
    return Subquery(rows.order_by("-taken_at", "-pk").values(value)[:1])


def board(clinic: Any, now: datetime) -> Board:
    """The board's data for `clinic` at `now`."""
    rooms = list(
        Room.objects.for_clinic(clinic)
        .filter(kind="treatment_chair", active=True)
        .order_by("position", "name")
    )
    sessions = list(
        TreatmentSession.objects.for_clinic(clinic)
        .filter(state__in=ACTIVE_STATES)
        .select_related("patient", "room", "administration", "course")
        .annotate(
            last_reading_id=_latest(VitalReading, None, "pk"),
            last_moaas_at=_latest(Observation, "moaas", "taken_at"),
            last_cadss_at=_latest(Observation, "cadss6", "taken_at"),
            last_vitals_at=_latest(VitalReading, None, "taken_at"),
        )
        .prefetch_related(
            Prefetch(
                "alerts",
                queryset=SessionAlert.objects.filter(acknowledged_at__isnull=True),
                to_attr="open_alerts",
            )
        )
        .order_by("started_at")
    )
    readings = VitalReading.objects.in_bulk(
        [s.last_reading_id for s in sessions if s.last_reading_id]
    )
    local_start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    waiting = list(
        Appointment.objects.for_clinic(clinic)
        .filter(
            kind="treatment",
            status="checked_in",
            treatment_session__isnull=True,
            start__gte=local_start,
            start__lt=local_start + timedelta(days=1),
        )
        .select_related("patient", "room")
        .order_by("start")
    )
    by_room: dict[int, Chair] = {room.pk: Chair(room=room) for room in rooms}
    elsewhere = []
    for session in sessions:
        chair = by_room.get(session.room_id)
        if chair is None or chair.session is not None:
            chair = Chair(room=session.room)
            elsewhere.append(chair)
        chair.session = session
        chair.reading = readings.get(session.last_reading_id)
        chair.alerts = sorted(session.open_alerts, key=lambda a: LEVEL_RANK.get(a.level, 9))
        anchor = session.dose_started_at or session.started_at
        chair.elapsed_minutes = int((now - anchor).total_seconds() // 60)
        if session.dose_started_at is not None:
            done = [
                (kind, at)
                for kind, at in (
                    ("vitals", session.last_vitals_at),
                    ("moaas", session.last_moaas_at),
                    ("cadss6", session.last_cadss_at),
                )
                if at is not None
            ]
            protocol = apply_observation(session, course_protocol(session.course))
            kinds = {c.kind for c in protocol.monitoring.checks}
            due = due_checks(
                protocol,
                dose_started_at=session.dose_started_at,
                infusion_ended_at=session.dose_ended_at if session.route == "iv" else None,
                done=[d for d in done if d[0] in kinds],
                now=now,
            )
            timed = [d for d in due if d.minute is not None] or due
            if timed:
                chair.due = timed[0]
                chair.due_minutes = int((timed[0].due_at - now).total_seconds() // 60)
    return Board(chairs=list(by_room.values()), waiting=waiting, elsewhere=elsewhere)


def record_view(*, actor: Actor, board: Board, now: datetime) -> bool:
    """Audit that `actor` saw the board; returns False when the view was already recorded.

    Every read of patient data is audited, but one event per poll would flood the
    log with nothing new. A view is recorded unless the same user recorded one in
    the last AUDIT_WINDOW showing the same sessions and waiting appointments; a new
    patient on the board is always recorded at once.
    """
    shown = [c.session.pk for c in [*board.chairs, *board.elsewhere] if c.session]
    detail = {
        "view": "board",
        "sessions": sorted(shown),
        "waiting": sorted(a.pk for a in board.waiting),
    }
    last = (
        AuditEvent.objects.filter(
            clinic_id=actor.clinic.pk,
            user_id=actor.user.pk,
            action="view",
            object_type="treatment.board",
            at__gte=now - AUDIT_WINDOW,
        )
        .order_by("-at", "-pk")
        .values_list("detail", flat=True)
        .first()
    )
    if last == detail:
        return False
    record(actor, "view", object_type="treatment.board", detail=detail)
    return True
