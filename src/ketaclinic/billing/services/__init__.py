"""Charges from signed visits, the biller's review, claims, payments and balances.

Every write checks the actor's permission, runs in one transaction (a refused write leaves
the database as it was) and writes an audit event; reads of billing data are audited by
the pages and API that show them. The modules, by what they do:

- `proposing`: the facts of a signed visit and the charge lines proposed from them;
- `review`: the biller's edit (with a reason and the version they loaded), approval, void;
- `claims`: claims of approved lines and their statuses and corrections;
- `payments`: payments, balances and the aging report.
"""

from __future__ import annotations

from ketaclinic.billing.services.claims import correct_claim, create_claim, set_claim_status
from ketaclinic.billing.services.payments import (
    AGING_BUCKETS,
    Balance,
    aging,
    balance_of,
    charge_paid,
    open_charges,
    record_payment,
)
from ketaclinic.billing.services.proposing import (
    before_billing_starts,
    fee_for,
    is_signed_visit,
    on_session_signed,
    primary_coverage,
    propose_for_appointment,
    propose_missing,
    visit_facts,
)
from ketaclinic.billing.services.review import (
    EDITABLE,
    approve_charge,
    charges_for_visit,
    edit_charge,
    void_charge,
)

__all__ = [
    "AGING_BUCKETS",
    "EDITABLE",
    "Balance",
    "aging",
    "approve_charge",
    "balance_of",
    "before_billing_starts",
    "charge_paid",
    "charges_for_visit",
    "correct_claim",
    "create_claim",
    "edit_charge",
    "fee_for",
    "is_signed_visit",
    "on_session_signed",
    "open_charges",
    "primary_coverage",
    "propose_for_appointment",
    "propose_missing",
    "record_payment",
    "set_claim_status",
    "visit_facts",
    "void_charge",
]
