"""The ledger proves itself: each entry is hashed and chained to the lot's previous entry.

The database triggers refuse edits, but a tamperer who drops them could change a
quantity and its balance so that the books still add up. So each entry stores a
SHA-256 over everything it records (except the witness, filled once later) and the
hash of the entry before it on the same lot (the lot row is the lock every ledger write
takes, so a lot's entries form one line). Its audit event, sealed and anchored with
the audit log, carries the same hash, so removing the newest entries is seen too.

`verify()` walks every entry once: the hash, the link, that the quantity, its
milligrams and the signed change agree, and each running balance recomputed from zero.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

GENESIS = "0" * 64
QUANT = Decimal("0.001")
# The columns an entry's hash covers: all it records, except its id (not known before
# the insert) and the witness, which a waste gets once, later (its own trigger guards it).
HASHED = (
    "clinic_id", "location_id", "product_id", "lot_id", "kind", "quantity", "mg", "delta",
    "balance_after", "recorded_by_id", "recorded_at", "occurred_at", "corrects_id",
    "counterpart_id", "supplier_name", "supplier_address", "supplier_dea_number", "invoice",
    "containers", "patient_id", "session_ref", "manner", "witness_requested_id", "reason",
)  # fmt: skip


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value.quantize(QUANT))
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value


def entry_hash(values: Mapping[str, Any], prev_hash: str) -> str:
    """SHA-256 over the entry's recorded values and the hash of the lot's entry before it."""
    content = {name: _plain(values[name]) for name in HASHED}
    content["prev_hash"] = prev_hash
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Problem:
    entry: int | None
    what: str

    def __str__(self) -> str:
        return f"entry {self.entry}: {self.what}" if self.entry else self.what


def check_entries(
    entries: Iterable[Mapping[str, Any]],
    mg_per_unit: Mapping[int, Decimal],
    vouched: Mapping[int, str],
) -> list[Problem]:
    """Every problem in a ledger, in the order found.

    `entries`: every entry's values (HASHED, "id", "hash", "prev_hash"), ordered by lot
    then id. `mg_per_unit`: per product. `vouched`: entry id -> hash, as recorded in the
    (sealed) audit log when the entry was written.
    """
    problems: list[Problem] = []
    seen: set[int] = set()
    lot, prev = None, GENESIS
    balances: dict[tuple[int, int], Decimal] = {}
    for entry in entries:
        pk = entry["id"]
        seen.add(pk)
        if entry["lot_id"] != lot:
            lot, prev = entry["lot_id"], GENESIS
        if entry["prev_hash"] != prev:
            problems.append(Problem(pk, "does not follow the lot's previous entry"))
        if entry_hash(entry, entry["prev_hash"]) != entry["hash"]:
            problems.append(Problem(pk, "was altered after it was written"))
        if pk in vouched and vouched[pk] != entry["hash"]:
            problems.append(Problem(pk, "differs from the hash its audit event recorded"))
        quantity, delta = entry["quantity"], entry["delta"]
        if abs(delta) != quantity:
            problems.append(Problem(pk, f"changes the balance by {delta}, not ±{quantity}"))
        mg = (quantity * mg_per_unit[entry["product_id"]]).quantize(QUANT)
        if entry["mg"] != mg:
            problems.append(Problem(pk, f"records {entry['mg']} mg; {quantity} units are {mg} mg"))
        place = (entry["lot_id"], entry["location_id"])
        expected = balances.get(place, Decimal(0)) + delta
        if entry["balance_after"] != expected:
            problems.append(
                Problem(
                    pk, f"balance after is {entry['balance_after']}; the entries give {expected}"
                )
            )
        balances[place] = expected
        prev = entry["hash"]
    for pk in sorted(set(vouched) - seen):
        problems.append(Problem(pk, "is in the audit log but missing from the ledger"))
    return problems
