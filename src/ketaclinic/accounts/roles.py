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
    BILLER = "biller"  # billing (issue 20): charges, claims, payments
    PATIENT = "patient"  # portal accounts (issue 16): their own portal, nothing else
    # The public website's editors (issue 18): pages and comments, no clinical permission.
    EDITOR = "editor"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


STAFF_ROLES = (
    Role.ADMIN,
    Role.PHYSICIAN,
    Role.NURSE,
    Role.THERAPIST,
    Role.FRONT_DESK,
    Role.BILLER,
    Role.EDITOR,
)
CLINICAL_ROLES = {Role.PHYSICIAN, Role.NURSE, Role.THERAPIST}
ALL_STAFF = set(STAFF_ROLES)

A, P, N, T, F = Role.ADMIN, Role.PHYSICIAN, Role.NURSE, Role.THERAPIST, Role.FRONT_DESK
B = Role.BILLER

# action -> roles allowed. Keep the rows short and the names plain.
PERMISSIONS: dict[str, frozenset[Role]] = {
    # Demographics and contact details: everyone on staff (front desk books and calls).
    "patient.view": frozenset({A, P, N, T, F, B}),
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
    # A theft or loss report's follow-up (DEA notified, Form 106 filed): who sees losses.
    "loss.record": frozenset({A, P, N}),
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
    # Integration support (issue 15): the workspace, timelines and progress notes are
    # the care team's (the record); therapists and physicians write notes and plans.
    "integration.view": frozenset({A, P, N, T}),
    "integration.note": frozenset({P, T}),
    "integration.plan": frozenset({P, T}),
    # Group circles: created by those who book or run them; attendance by who runs them.
    "integration.circle": frozenset({A, P, T, F}),
    "integration.attend": frozenset({P, T}),
    # Psychotherapy notes (45 CFR 164.501): written by therapists and physicians and read
    # only by their author, whatever the role table says about anyone else.
    "psychotherapy.note": frozenset({P, T}),
    # Restricted charts (patients/restricted.py): admins (the privacy officer) mark a chart
    # restricted, name its care team and review every break-glass opening; any staff member
    # may break the glass, with a reason, for a limited time.
    "patient.restrict": frozenset({A}),
    "breakglass.open": frozenset({A, P, N, T, F}),
    "breakglass.review": frozenset({A}),
    # Creating clinics: the platform's administrator (a Django superuser), no clinic role.
    "platform.manage": frozenset(),
    # Adverse-event reports (MedWatch 3500, REMS): clinicians draft; staff who send them record it.
    "aereport.view": frozenset({A, P, N}),
    "aereport.draft": frozenset({P, N}),
    "aereport.submit": frozenset({A, P, N}),
    # Sending the intake and consent links (e-mail or copy): the front desk too. Filling in
    # the intake or witnessing a signature stays clinical (clinical.edit, consent.record).
    "forms.send": frozenset({P, N, F}),
    # The patient portal (issue 16): a patient account may use its own portal and nothing
    # else; staff invite a patient and answer the portal's messages and requests.
    "portal.use": frozenset({Role.PATIENT}),
    "portal.invite": frozenset({A, P, N, F}),
    "messages.view": frozenset({A, P, N, T, F}),
    "messages.record": frozenset({A, P, N, T, F}),
    # Billing (issue 20): billers (and admins) set up, review and approve charges and send
    # claims; the front desk takes payments and prints superbills; clinicians never see
    # payments or balances.
    "billing.view": frozenset({A, B, F}),
    "billing.setup": frozenset({A, B}),
    "billing.review": frozenset({A, B}),
    "billing.approve": frozenset({A, B}),
    "billing.claim": frozenset({A, B}),
    "billing.payment": frozenset({A, B, F}),
    "billing.superbill": frozenset({A, B, F}),
    # The public website (issue 18): editors and admins edit pages in /cms/ and moderate
    # comments. An editor has no clinical permission: none of the rows above names them.
    "website.edit": frozenset({A, Role.EDITOR}),
    "comments.moderate": frozenset({A, Role.EDITOR}),
    # A patient's HIPAA authorization to publish their story: recorded and revoked by
    # the clinicians who see the chart (and admins, the privacy officer).
    "story.authorize": frozenset({A, P, N}),
}


def may(role: Role | str | None, action: str) -> bool:
    """True when `role` may perform `action`; an action missing from the table is a ValueError."""
    if action == "undeclared":  # the API's default for a route that declares no action
        return False
    allowed = PERMISSIONS[permission(action)]
    if role is None:
        return False
    return Role(role) in allowed


def actions_for(role: Role | str) -> frozenset[str]:
    """Every action a role may perform (for templates that hide what is not allowed)."""
    return frozenset(action for action, roles in PERMISSIONS.items() if Role(role) in roles)


# The actions as a closed vocabulary, made from the table so the two cannot drift:
# `Permission.CLINICAL_VIEW == "clinical.view"`. `require`, `allow` and `may` refuse an
# action that is not here (ValueError), so a misspelt action fails when its module is
# imported (decorators) or on first use, instead of silently refusing everyone.
Permission = StrEnum(  # type: ignore[misc]
    "Permission", [(action.replace(".", "_").upper(), action) for action in PERMISSIONS]
)


def permission(action: str) -> str:
    """`action` when it is in the role table; ValueError naming it otherwise."""
    if action not in PERMISSIONS:
        raise ValueError(f"{action!r} is not an action in accounts/roles.py")
    return action
