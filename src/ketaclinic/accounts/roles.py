"""The role table: what each role may do, in one place for pages and API alike.

Every view and API handler asks `may(role, action)` through `accounts.access`;
nothing else decides permissions. Later capabilities add their actions here.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    PHYSICIAN = "physician"
    NURSE = "nurse"
    THERAPIST = "therapist"
    FRONT_DESK = "front_desk"
    PATIENT = "patient"  # portal accounts (a later capability)

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


STAFF_ROLES = (Role.ADMIN, Role.PHYSICIAN, Role.NURSE, Role.THERAPIST, Role.FRONT_DESK)
CLINICAL_ROLES = {Role.PHYSICIAN, Role.NURSE, Role.THERAPIST}
ALL_STAFF = set(STAFF_ROLES)

A, P, N, T, F = Role.ADMIN, Role.PHYSICIAN, Role.NURSE, Role.THERAPIST, Role.FRONT_DESK

# action -> roles allowed. Keep the rows short and the names plain.
PERMISSIONS: dict[str, frozenset[Role]] = {
    # Demographics and contact details: everyone on staff (front desk books and calls).
    "patient.view": frozenset({A, P, N, T, F}),
    "patient.create": frozenset({A, P, N, F}),
    "patient.edit": frozenset({A, P, N, F}),
    # The clinical record (conditions, medications, allergies, measures, notes):
    # not the front desk. Admins read it for oversight but do not chart.
    "clinical.view": frozenset({A, P, N, T}),
    "clinical.edit": frozenset({P, N}),
    # Doses are recorded by nurses and physicians; a therapist never does.
    "dose.record": frozenset({P, N}),
    "dose.calculate": frozenset({P, N}),
    # Dose orders (dose, reason, why a course stopped): those who prescribe, give or oversee.
    "dose.view": frozenset({A, P, N}),
    # Only physicians sign medical decisions (eligibility, orders, overrides, co-sign).
    "medical.sign": frozenset({P}),
    # Eligibility screening runs and consent signing (witness, links, withdrawal).
    "screening.run": frozenset({P, N}),
    "consent.record": frozenset({P, N}),
    # Questionnaires: clinicians record them; front desk may send the link.
    "measures.record": frozenset({P, N, T}),
    "measures.send": frozenset({P, N, T, F}),
    "alerts.resolve": frozenset({P, N, T}),
    "instruments.view": frozenset({A, P, N, T, F}),
    # Schedules.
    "schedule.view": frozenset({A, P, N, T, F}),
    "schedule.book": frozenset({A, P, N, F}),
    "floor.manage": frozenset({A}),
    # Every staff member manages their own API tokens.
    "account.tokens": frozenset({A, P, N, T, F}),
    # Administration.
    "staff.manage": frozenset({A}),
    "audit.view": frozenset({A}),
    # Controlled-substance ledger: nurses and physicians record; admins report.
    "ledger.record": frozenset({P, N}),
    "ledger.report": frozenset({A}),
    "ledger.view": frozenset({A, P, N}),  # see the ledger, balances, losses (record or report)
    # Set-up: register drug products and storage locations (no ledger entry is written).
    "inventory.setup": frozenset({A, P, N}),
    # Treatment sessions: nurses and physicians chart them; REMS forms are tracked by staff.
    "session.chart": frozenset({P, N}),
    "rems.manage": frozenset({A, P, N}),
    # Clinic outcome dashboards (with drill-down to patients) and publishing de-identified ones.
    "outcomes.view": frozenset({A, P}),
    "outcomes.publish": frozenset({A}),
    # FHIR Bulk Data export of the whole clinic (or a cohort): admins only.
    "fhir.export": frozenset({A}),
    # Follow-up calls after dosing: nurses and physicians call; admins see the work list.
    "followup.call": frozenset({P, N}),
    "followup.view": frozenset({A, P, N}),
    # Sending the intake and consent links (e-mail or copy): the front desk too. Filling in
    # the intake or witnessing a signature stays clinical (clinical.edit, consent.record).
    "forms.send": frozenset({P, N, F}),
}


def may(role: Role | str | None, action: str) -> bool:
    """True when `role` may perform `action`; an action missing from the table is refused."""
    if role is None:
        return False
    allowed = PERMISSIONS.get(action, frozenset())
    return Role(role) in allowed


def actions_for(role: Role | str) -> frozenset[str]:
    """Every action a role may perform (for templates that hide what is not allowed)."""
    return frozenset(action for action, roles in PERMISSIONS.items() if Role(role) in roles)
