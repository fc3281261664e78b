"""The network generator's sizes, per-clinic state, ids and the tables it fills."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import models

from ketaclinic.accounts.models import Clinic
from ketaclinic.audit.models import AuditEvent, AuditSeal
from ketaclinic.inventory.models import LedgerEntry, Lot
from ketaclinic.measures.models import Response
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling.models import Appointment, TreatmentCourse
from ketaclinic.treatment.models import Administration, TreatmentSession, VitalReading

GIVEN = (
    "Ana Ben Carla Dev Elena Farid Grace Hugo Ines Jamal Kira Liam Maya Noor Omar Priya "
    "Quinn Rosa Sami Tara Uma Victor Wen Xavier Yara Zane Ada Bruno Chloe Diego"
).split()
FAMILY = (
    "Adams Baker Chen Diaz Evans Fischer Garcia Haddad Ito Jensen Kaur Lopez Murphy Nguyen "
    "Okafor Patel Quist Rossi Silva Tanaka Usman Varga Weber Xu Young Zhang Alvarez Brooks "
    "Costa Dubois Eriksen Fontaine Gupta Hansen Ibrahim Jovanovic Kowalski Larsen Moreau Novak"
).split()
SEAL_SIZE = 5000  # events per seal, as the worker seals a busy clinic
DAY = timedelta(days=1)


@dataclass
class Sizes:
    clinics: int
    patients: int
    sessions: int
    vitals: int
    responses: int
    audit: int

    def share(self, total: int, clinic: int) -> int:
        """Clinic number `clinic`'s share of `total` (the remainder goes to the first ones)."""
        return total // self.clinics + (1 if clinic < total % self.clinics else 0)


@dataclass
class ClinicState:
    clinic: Clinic
    staff: dict[str, Any]
    chairs: list[int]
    location: int = 0
    product: int = 0
    ledger_events: list[tuple[datetime, int, str, dict[str, Any]]] = field(default_factory=list)


@dataclass
class Ids:
    """The next free id of every table written."""

    values: dict[type[models.Model], int]

    def take(self, model: type[models.Model], n: int = 1) -> int:
        first = self.values[model]
        self.values[model] = first + n
        return first


MODELS: tuple[type[models.Model], ...] = (
    Patient,
    TreatmentCourse,
    Appointment,
    TreatmentSession,
    Administration,
    VitalReading,
    Response,
    Lot,
    LedgerEntry,
    AuditEvent,
    AuditSeal,
)
