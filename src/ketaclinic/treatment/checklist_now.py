"""The pre-dose checklist as the system finds it now, for a page or API read that writes nothing.

Reading a session used to re-run the automatic checks and write what changed: every GET
of a session was a database write. Now the checks' findings are stored by the writes
that act on the checklist (starting, confirming or overriding an item, a pre-dose
reading, the weight, and `begin_dosing`, which re-checks before it lets a dose through),
and a read shows the stored rows with what the checks find now laid over them in
memory. Things recorded elsewhere (a consent signed, a questionnaire answered through a
patient's link, an alert resolved) so show at once, and the dose gate still decides on a
fresh, stored check. After the dose the checklist is history and nothing is re-checked.
"""

from __future__ import annotations

from datetime import datetime

from ketaclinic.treatment import checklist as checks
from ketaclinic.treatment import services
from ketaclinic.treatment.models import ChecklistResult, ItemStatus, State, TreatmentSession


def overlay(session: TreatmentSession, rows: list[ChecklistResult], now: datetime) -> None:
    """Set each automatic row's status and finding to what the checks find at `now`.

    The same comparison as services.refresh_checklist, in memory: an overridden item whose
    finding changed shows without its override, so it blocks again, as it will once stored.
    """
    if session.state != State.PRE_DOSE or session.is_signed:
        return
    automatic = [row for row in rows if row.automatic]
    if not automatic:
        return
    protocol = services.session_protocol(session)
    findings = checks.automatic_findings(session, protocol, {r.item_id for r in automatic}, now)
    for row in automatic:
        finding = findings.get(row.item_id)
        if finding is None:
            continue
        status = ItemStatus.MET if finding.met else ItemStatus.FAILED
        text = finding.text[:500]
        if row.status == status and row.finding == text:
            continue
        row.status, row.finding, row.checked_at, row.checked_by = status, text, now, None
        if row.override_by_id is not None:
            for name, value in services.NO_OVERRIDE.items():
                setattr(row, name, value)
