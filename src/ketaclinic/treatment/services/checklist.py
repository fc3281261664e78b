"""The pre-treatment checklist: refreshing it from the gates, checking and overriding items."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.audit.services import record
from ketaclinic.clinical.protocols import Protocol
from ketaclinic.treatment import checklist as checks
from ketaclinic.treatment.models import ChecklistResult, ItemStatus, State, TreatmentSession

from .state import (
    SessionConflict,
    _claim,
    _decimal,
    _event,
    _now,
    _require_state,
    _save,
    session_protocol,
)

# --- the checklist -----------------------------------------------------------------------


def refresh_checklist(
    session: TreatmentSession,
    protocol: Protocol | None = None,
    *,
    actor: Actor,
    now: datetime | None = None,
) -> None:
    """Re-run the automatic checks while the session is before the dose.

    An override covers the finding it was given for: when an overridden item's finding
    changes (145/85 overridden, then a 210/125 reading) the override is cleared, so the
    item blocks again, and the timeline says so (by `actor`, whose action found it).
    """
    if session.state != State.PRE_DOSE or session.is_signed:
        return
    protocol = protocol or session_protocol(session)
    now = _now(now)
    with transaction.atomic():
        rows = list(session.checklist.filter(automatic=True))
        findings = checks.automatic_findings(session, protocol, {r.item_id for r in rows}, now)
        for row in rows:
            finding = findings.get(row.item_id)
            if finding is None:
                continue
            status = ItemStatus.MET if finding.met else ItemStatus.FAILED
            text = finding.text[:500]
            if row.status == status and row.finding == text:
                continue
            changes: dict[str, Any] = {
                "status": status,
                "finding": text,
                "checked_at": now,
                "checked_by": None,
            }
            if row.override_by_id is not None:
                changes.update(_lapse_override(actor, session, row, text, at=now))
            ChecklistResult.objects.filter(pk=row.pk).update(**changes)


NO_OVERRIDE = {
    "override_by": None,
    "override_reason": "",
    "override_at": None,
    "override_finding": "",
}


def _lapse_override(
    actor: Actor, session: TreatmentSession, row: ChecklistResult, finding: str, *, at: datetime
) -> dict[str, Any]:
    """Record that an override no longer applies; returns the fields that clear it."""
    _event(
        actor,
        session,
        "override_lapsed",
        f"Override of '{row.label}' no longer applies: the finding changed to: {finding or 'met'}",
        at=at,
    )
    record(
        actor,
        "override_lapsed",
        patient_id=session.patient_id,
        obj=session,
        detail={"item": row.item_id},
    )
    return dict(NO_OVERRIDE)


def _item(session: TreatmentSession, item_id: str) -> ChecklistResult:
    found = session.checklist.filter(item_id=item_id).first()
    if found is None:
        raise ValidationError({"item": f"This session's checklist has no item {item_id!r}."})
    return found


def check_item(
    *,
    actor: Actor,
    session: TreatmentSession,
    item_id: str,
    met: bool,
    finding: str = "",
    hours_since_food: Any = None,
    hours_since_liquids: Any = None,
    expected_version: int | None,
) -> ChecklistResult:
    """The nurse confirms (or fails) a checklist item the system cannot check itself.

    The fasting item takes the hours since food and since liquids; where the protocol
    gives fasting times the system decides whether it is met, not the tick.
    """
    actor.check("session.chart")
    fasting = None
    if item_id == "fasting":
        fasting = _fasting_hours(hours_since_food, hours_since_liquids)
    protocol = session_protocol(session)
    with transaction.atomic():
        _claim(session, expected_version)
        _require_state(session, State.PRE_DOSE, doing="change the checklist")
        item = _item(session, item_id)
        if item.automatic:
            raise ValidationError(
                {"item": "The system checks this item itself; fix the record it reads instead."}
            )
        status = ItemStatus.MET if met else ItemStatus.FAILED
        finding = finding.strip()
        if fasting is not None:
            session.hours_since_food, session.hours_since_liquids = fasting
            _save(session, "hours_since_food", "hours_since_liquids")
            found = checks.fasting_finding(protocol, *fasting)
            if found is not None:
                status = ItemStatus.MET if found.met else ItemStatus.FAILED
            reported = found.text if found is not None else checks.fasting_reported(*fasting)
            finding = f"{reported} {finding}".strip()
        finding = finding[:500] or item.finding
        fields = ["status", "finding", "checked_by", "checked_at"]
        if item.override_by_id is not None and (item.status, item.finding) != (status, finding):
            for name, value in _lapse_override(
                actor,
                session,
                item,
                finding if status == ItemStatus.FAILED else "",
                at=timezone.now(),
            ).items():
                setattr(item, name, value)
            fields += list(NO_OVERRIDE)
        item.status = status
        item.finding = finding
        item.checked_by = actor.user
        item.checked_at = timezone.now()
        item.save(update_fields=fields)
        record(
            actor,
            "checklist",
            patient_id=session.patient_id,
            obj=session,
            detail={"item": item_id, "status": item.status},
        )
    return item


def _fasting_hours(food: Any, liquids: Any) -> tuple[Decimal, Decimal]:
    """The reported hours since food and liquids (0.1 h steps); 422 naming the field."""
    hours = {}
    for field, raw in (("hours_since_food", food), ("hours_since_liquids", liquids)):
        number = _decimal(raw, field)
        if number is None:
            raise ValidationError({field: "Ask the patient and enter the hours (0.5 = 30 min)."})
        # Checked before rounding: a huge number (1e308) cannot be rounded to 0.1 h.
        if number >= Decimal("99.95"):  # what would round above 99.9
            raise ValidationError({field: "Enter up to 99.9 hours."})
        hours[field] = number.quantize(Decimal("0.1"))
    return hours["hours_since_food"], hours["hours_since_liquids"]


def override_item(
    *,
    actor: Actor,
    session: TreatmentSession,
    item_id: str,
    reason: str,
    expected_version: int | None,
) -> ChecklistResult:
    """A physician lets the dose go ahead despite a failed hard stop, with a reason.

    Only a failed item can be overridden (an unchecked one must be checked first), and
    the override covers the finding it was given for: a different finding later clears it.
    """
    actor.check("medical.sign")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the dose may go ahead."})
    with transaction.atomic():
        _claim(session, expected_version)
        _require_state(session, State.PRE_DOSE, doing="override a checklist item")
        refresh_checklist(session, actor=actor)
        item = _item(session, item_id)
        if not item.hard_stop:
            raise ValidationError({"item": "Only a hard-stop item needs an override."})
        if item.status != ItemStatus.FAILED:
            raise SessionConflict(
                f"Only a failed item can be overridden; '{item.label}' is "
                f"{item.get_status_display().lower()}: check it first.",
                item=item.item_id,
                status=item.status,
            )
        item.override_by = actor.user
        item.override_reason = reason[:500]
        item.override_at = timezone.now()
        item.override_finding = item.finding
        item.save(
            update_fields=["override_by", "override_reason", "override_at", "override_finding"]
        )
        _event(
            actor,
            session,
            "override",
            f"Checklist override: {item.label} ({item.finding or 'not met'}). Reason: {reason}",
        )
        record(
            actor, "override", patient_id=session.patient_id, obj=session, detail={"item": item_id}
        )
    return item


def set_pregnancy_applies(
    *,
    actor: Actor,
    session: TreatmentSession,
    applies: bool,
    reason: str = "",
    expected_version: int | None,
) -> None:
    """Say whether pregnancy is possible; adds or removes the protocol's pregnancy item.

    Removing an item (the pregnancy test is a hard stop) needs a reason; the change,
    with what the removed item showed, goes on the timeline, the page and the summary.
    """
    actor.check("session.chart")
    reason = (reason or "").strip()
    protocol = session_protocol(session)
    with transaction.atomic():
        _claim(session, expected_version)
        _require_state(session, State.PRE_DOSE, doing="change the checklist")
        session.pregnancy_possible = applies
        wanted = {item.id: item for item in checks.items_for(session, protocol)}
        removed = list(session.checklist.exclude(item_id__in=list(wanted)))
        if removed and not reason:
            raise ValidationError(
                {"reason": "Say why pregnancy is not possible (the pregnancy test is a hard stop)."}
            )
        _save(session, "pregnancy_possible")
        have = set(session.checklist.values_list("item_id", flat=True))
        added = []
        for position, (item_id, item) in enumerate(wanted.items()):
            if item_id not in have:
                ChecklistResult.objects.create(
                    session=session,
                    position=position,
                    item_id=item.id,
                    label=item.label,
                    hard_stop=item.hard_stop,
                    automatic=item.id in checks.AUTOMATIC_ITEMS,
                )
                added.append(item.label)
        for row in removed:
            was = row.get_status_display().lower()
            if row.override_by_id:
                was += ", overridden"
            _event(
                actor,
                session,
                "checklist_change",
                f"Removed from the checklist (pregnancy not possible): {row.label} "
                f"(was {was}). Reason: {reason}",
            )
        for label in added:
            _event(
                actor,
                session,
                "checklist_change",
                f"Added to the checklist (pregnancy possible): {label}"
                + (f". Reason: {reason}" if reason else ""),
            )
        session.checklist.filter(pk__in=[row.pk for row in removed]).delete()
        record(
            actor,
            "checklist",
            patient_id=session.patient_id,
            obj=session,
            detail={"pregnancy_possible": applies, "removed": [r.item_id for r in removed]},
        )


def blocking_items(session: TreatmentSession) -> list[ChecklistResult]:
    return [item for item in session.checklist.all() if item.blocks]
