"""One generated clinic: its staff, chairs, patients, sessions, ledger and events."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import models

from ketaclinic.accounts.services import add_clinic, add_staff
from ketaclinic.audit.models import AuditEvent
from ketaclinic.audit.services import GENESIS
from ketaclinic.clinical.instruments.scoring import score
from ketaclinic.inventory import ledger_chain
from ketaclinic.inventory.models import LedgerEntry, Location, Lot, Product
from ketaclinic.measures.models import Response
from ketaclinic.patients.models import Patient, search_key
from ketaclinic.scheduling.models import Appointment, Room, TreatmentCourse
from ketaclinic.treatment.models import Administration, TreatmentSession, VitalReading

from .audit_trail import _audit
from .state import DAY, FAMILY, GIVEN, ClinicState, Ids, Sizes
from .tables import (
    Progress,
    Table,
    write,
)


def _clinic(number: int) -> ClinicState:
    clinic = add_clinic(slug=f"network-{number:03d}", name=f"Network clinic {number + 1}")
    staff = {}
    for role, name in (
        ("physician", "dr"),
        ("nurse", "nurse"),
        ("nurse", "nurse2"),
        ("admin", "admin"),
        ("front_desk", "desk"),
    ):
        staff[name] = add_staff(
            username=f"net{number:03d}.{name}", clinic=clinic, role=role, check_password=False
        )
    chairs = []
    for k in range(6):
        room, _ = Room.objects.get_or_create(
            clinic=clinic, name=f"Chair {k + 1}", defaults={"kind": "treatment_chair"}
        )
        chairs.append(room.pk)
    location, _ = Location.objects.get_or_create(clinic=clinic, name="Main safe")
    product, _ = Product.objects.get_or_create(
        clinic=clinic,
        ndc="0409-2051-05",
        defaults={
            "name": "Ketamine HCl injection 50 mg/mL, 10 mL vial",
            "substance": "ketamine",
            "form": "vial",
            "strength": "50 mg/mL",
            "unit": "mL",
            "mg_per_unit": Decimal("50"),
            "units_per_container": Decimal("10"),
        },
    )
    return ClinicState(clinic, staff, chairs, location.pk, product.pk)


def _instruments() -> dict[str, Any]:
    from ketaclinic.measures.registry import instruments

    found = instruments()
    return {"phq9": found["phq9"], "gad7": found["gad7"]}


def _one_clinic(
    n: int,
    state: ClinicState,
    sizes: Sizes,
    rng: random.Random,
    now: datetime,
    ids: Ids,
    tables: dict[str, Table],
    instruments: dict[str, Any],
    bars: dict[str, Progress],
    sealed: bool,
    stride: dict[type[models.Model], int],
) -> None:
    clinic = state.clinic
    n_patients = sizes.share(sizes.patients, n)
    n_sessions = sizes.share(sizes.sessions, n)
    n_vitals = sizes.share(sizes.vitals, n)
    n_responses = sizes.share(sizes.responses, n)
    dr, nurses = state.staff["dr"], [state.staff["nurse"], state.staff["nurse2"]]
    window_start = now - timedelta(days=730)

    # Patients.
    first_patient = ids.take(Patient, n_patients)
    patients = []
    for i in range(n_patients):
        given, family = rng.choice(GIVEN), rng.choice(FAMILY)
        birth = date(1950, 1, 1) + timedelta(days=rng.randrange(0, 54 * 365))
        weight = Decimal(rng.randrange(480, 1150)) / 10
        patients.append(
            (
                first_patient + i, clinic.pk, f"N{n:03d}-{i:06d}", given, family, birth,
                rng.choice(("female", "male")), f"555-01{i % 100:02d}", weight,
                (now - timedelta(days=rng.randrange(1, 20))).date(),
                Decimal(rng.randrange(150, 195)), window_start.date(), "active",
                search_key(family), search_key(given), window_start,
            )
        )  # fmt: skip
    bars["patients"].add(write(tables["patient"], patients))

    # Sessions per patient (twice weekly), each with its course, appointment, dose.
    per_patient = [n_sessions // n_patients] * n_patients
    for i in rng.sample(range(n_patients), n_sessions % n_patients):
        per_patient[i] += 1
    first_course = ids.take(TreatmentCourse, n_patients)
    courses, appointments, sessions, administrations = [], [], [], []
    session_rows: list[tuple[datetime, int, int, Decimal]] = []  # start, id, patient, mg
    sid = ids.take(TreatmentSession, n_sessions)
    aid = ids.take(Appointment, n_sessions + 20)
    adm = ids.take(Administration, n_sessions)
    for i, count in enumerate(per_patient):
        pid = first_patient + i
        weight = patients[i][8]
        span = timedelta(days=3.5 * count + 1)
        start_day = window_start + timedelta(
            days=rng.randrange(0, max(1, (now - DAY - span - window_start).days))
        )
        course_id = first_course + i
        courses.append(
            (
                course_id, clinic.pk, pid, "ketamine-iv-mood", 1, "ketamine-iv-mood",
                max(count, 1), start_day.date(), "completed" if count else "planned",
                dr.user_id, start_day - 2 * DAY, start_day - DAY,
            )
        )  # fmt: skip
        mg = (Decimal("0.5") * weight).quantize(Decimal("0.01"))
        for k in range(count):
            day = (start_day + timedelta(days=3.5 * k)).replace(hour=0, minute=0, second=0)
            start = day + timedelta(hours=14 + rng.randrange(0, 7), minutes=rng.choice((0, 30)))
            nurse = rng.choice(nurses)
            room = rng.choice(state.chairs)
            appointments.append(
                (
                    aid, clinic.pk, pid, "treatment", room, course_id, nurse.pk, start,
                    start + timedelta(hours=2), "completed",
                )
            )  # fmt: skip
            dose_start = start + timedelta(minutes=10)
            dose_end = dose_start + timedelta(minutes=40)
            left = dose_end + timedelta(minutes=60)
            sessions.append(
                (
                    sid, clinic.pk, pid, aid, course_id, room, "ketamine-iv-mood", 1,
                    "racemic_ketamine", "iv", "discharged", start, nurse.user_id, k == 0,
                    dose_start, dose_end, True, True, True, False, left, left,
                    nurse.user_id, left + timedelta(minutes=5),
                )
            )  # fmt: skip
            ml = (mg / 50).quantize(Decimal("0.001"))
            administrations.append(
                [
                    adm, sid, "racemic_ketamine", "Ketamine HCl injection 50 mg/mL", "", None,
                    "iv", mg, Decimal("0.500"), "actual", weight, Decimal("50"),
                    (ml * 60 / 40).quantize(Decimal("0.01")), "mL", ml, ml, Decimal("0"), mg,
                    nurse.user_id, dose_start, dose_start,
                ]
            )  # fmt: skip
            session_rows.append((start, sid, pid, ml))
            sid, aid, adm = sid + 1, aid + 1, adm + 1
    # Today's board: twenty booked treatments.
    today = now.replace(hour=15, minute=0, second=0)
    for k in range(20):
        i = rng.randrange(n_patients)
        start = today + timedelta(minutes=30 * (k // 6))
        appointments.append(
            (
                aid, clinic.pk, first_patient + i, "treatment", state.chairs[k % 6],
                first_course + i, state.staff["nurse"].pk, start, start + timedelta(hours=2),
                "booked",
            )
        )  # fmt: skip
        aid += 1
    write(tables["course"], courses)
    write(tables["appointment"], appointments)

    # The ledger: a lot received when the last runs low; one administration per session.
    session_rows.sort()
    lots: list[tuple[Any, ...]] = []
    entries: list[list[Any]] = []
    balance, lot_id, prev, lot_number = Decimal(0), 0, GENESIS, ""
    eid = 0

    def entry_pk(k: int) -> int:
        return stride[LedgerEntry] + k * sizes.clinics + n

    lot_of: dict[int, tuple[int, str]] = {}
    for start, session_id, pid, ml in session_rows:
        if balance < ml:
            lot_id = ids.take(Lot)
            lot_number = f"K{n:03d}{len(lots):05d}"
            lots.append(
                (
                    lot_id, clinic.pk, state.product, lot_number,
                    (start + timedelta(days=700)).date(), "Network Pharma Supply",
                )
            )  # fmt: skip
            balance, prev = Decimal(0), GENESIS
            received = Decimal("1000.000")
            balance += received
            eid = _entry(
                entries, state, eid, entry_pk(eid), lot_id, "receive", received, received, balance,
                state.staff["admin"].user_id, start - DAY, prev,
                supplier_name="Network Pharma Supply", supplier_address="1 Supply Way",
                supplier_dea_number="RN1234563", invoice=f"INV-{lot_number}", containers=100,
            )  # fmt: skip
            prev = entries[-1][-1]
        balance -= ml
        eid = _entry(
            entries, state, eid, entry_pk(eid), lot_id, "administer", ml, -ml, balance,
            rng.choice(nurses).user_id, start + timedelta(minutes=10), prev,
            patient_id=pid, session_ref=str(session_id),
        )  # fmt: skip
        prev = entries[-1][-1]
        lot_of[session_id] = (lot_id, lot_number)
    write(tables["lot"], lots)
    for row in administrations:
        row[4], row[5] = lot_of[row[1]][1], lot_of[row[1]][0]
    write(tables["session"], sessions)
    bars["sessions"].add(len(sessions))
    write(tables["administration"], (tuple(r) for r in administrations))
    bars["ledger"].add(write(tables["ledger"], (tuple(e[:-1]) + (e[-1],) for e in entries)))

    # Vital signs: before the dose, then during it.
    def vitals() -> Iterator[tuple[Any, ...]]:
        vid = ids.take(VitalReading, n_vitals)
        for s in range(n_vitals):
            session = sessions[s % len(sessions)] if sessions else None
            if session is None:
                return
            k = s // len(sessions)
            at = session[11] + timedelta(minutes=5 + 15 * k)
            systolic = rng.randrange(108, 150) + (12 if k else 0)
            yield (
                vid + s, session[0], at, "during" if k else "pre_dose", systolic,
                rng.randrange(62, 92), rng.randrange(56, 98), rng.randrange(95, 101),
                rng.randrange(11, 19), session[12], at,
            )  # fmt: skip

    bars["vitals"].add(write(tables["vital"], vitals()))

    # Questionnaires: PHQ-9 and GAD-7 in turn, improving over a course.
    def responses() -> Iterator[tuple[Any, ...]]:
        rid = ids.take(Response, n_responses)
        for r in range(n_responses):
            i = r % n_patients
            k = r // n_patients
            code = "phq9" if k % 2 == 0 else "gad7"
            instrument = instruments[code]
            level = max(0.0, 2.2 - 0.25 * k + rng.uniform(-0.6, 0.6))
            answers = [min(3, max(0, round(rng.gauss(level, 0.7)))) for _ in instrument.items]
            result = score(instrument, answers)
            at = window_start + timedelta(days=rng.randrange(0, 700), hours=13)
            yield (
                rid + r, clinic.pk, first_patient + i, code, instrument.version,
                json.dumps(answers), result.total, result.severity or "",
                result.severity_label or "", json.dumps(dict(result.subscores)),
                result.prorated, json.dumps(list(result.missing_items)),
                result.provisional_diagnosis, result.above_cutoff, at, dr.user_id,
                "clinician", at,
            )  # fmt: skip

    bars["responses"].add(write(tables["response"], responses()))

    # The audit trail: the ledger's vouching events and chart reads, in time order.
    n_audit = sizes.share(sizes.audit, n)
    events: list[tuple[datetime, int, str, int | None, str, str, dict[str, Any]]] = []
    for e in entries:
        values = dict(zip(["id", *ledger_chain.HASHED, "prev_hash"], e[:-1], strict=True))
        events.append(
            (
                values["recorded_at"], values["recorded_by_id"], "create", values["patient_id"],
                "inventory.ledgerentry", str(values["id"]),
                {
                    "kind": values["kind"], "lot": values["lot_id"],
                    "location": values["location_id"], "hash": e[-1],
                },
            )
        )  # fmt: skip
    users = [(m.user_id, m.user.username, m.role) for m in state.staff.values()]
    seconds = int((now - window_start).total_seconds())
    for _ in range(max(0, n_audit - len(events))):
        pid = first_patient + rng.randrange(n_patients)
        at = window_start + timedelta(
            seconds=rng.randrange(seconds), microseconds=rng.randrange(10**6)
        )
        events.append((at, -1, "view", pid, "patients.patient", str(pid), {"view": "chart"}))
    events.sort(key=lambda e: e[0])
    _audit(
        state, events, users, ids, tables, bars["audit"], rng, sealed=sealed,
        first_event=stride[AuditEvent] + n, step=sizes.clinics,
    )  # fmt: skip


def _entry(
    entries: list[list[Any]],
    state: ClinicState,
    eid: int,
    pk: int,
    lot: int,
    kind: str,
    quantity: Decimal,
    delta: Decimal,
    balance: Decimal,
    user: int,
    at: datetime,
    prev: str,
    **extra: Any,
) -> int:
    values = {
        "clinic_id": state.clinic.pk, "location_id": state.location,
        "product_id": state.product, "lot_id": lot, "kind": kind, "quantity": quantity,
        "mg": (quantity * 50).quantize(ledger_chain.QUANT), "delta": delta,
        "balance_after": balance, "recorded_by_id": user, "recorded_at": at, "occurred_at": at,
        "corrects_id": None, "counterpart_id": None, "supplier_name": "", "supplier_address": "",
        "supplier_dea_number": "", "invoice": "", "containers": None, "patient_id": None,
        "session_ref": "", "manner": "", "witness_requested_id": None, "reason": "",
    }  # fmt: skip
    values.update(extra)
    digest = ledger_chain.entry_hash(values, prev)
    entries.append([pk, *(values[c] for c in ledger_chain.HASHED), prev, digest])
    return eid + 1
