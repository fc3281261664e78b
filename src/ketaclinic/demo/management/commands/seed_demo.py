"""Load the demo clinic: one user per role and about 30 synthetic patients (no real people).

Idempotent: running it again changes nothing that is already there.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand
from django.db import transaction

from ketaclinic.accounts.services import add_clinic, add_staff
from ketaclinic.billing import demo as billing_demo
from ketaclinic.integration import demo as integration_demo
from ketaclinic.integration import replanning_demo
from ketaclinic.inventory import demo as inventory_demo
from ketaclinic.measures import demo as measures_demo
from ketaclinic.outcomes import demo as outcomes_demo
from ketaclinic.patients import restricted_demo
from ketaclinic.patients.models import Allergy, Condition, Medication, Patient
from ketaclinic.portal import demo as portal_demo
from ketaclinic.scheduling import demo as scheduling_demo
from ketaclinic.scheduling import review_demo
from ketaclinic.screening import demo as screening_demo
from ketaclinic.setup import demo as setup_demo
from ketaclinic.treatment import demo as treatment_demo
from ketaclinic.treatment import followup_demo, safety_demo
from ketaclinic.website import demo as website_demo

DEMO_PASSWORD = "ketaclinic-demo"
CLINIC_SLUG = "harbor"
STAFF = [
    ("admin", "admin", "Alex", "Morgan"),
    ("dr.chen", "physician", "Lena", "Chen"),
    ("nurse.okafor", "nurse", "Grace", "Okafor"),
    ("therapist.rivera", "therapist", "Sam", "Rivera"),
    ("frontdesk.lee", "front_desk", "Jordan", "Lee"),
    ("biller.banks", "biller", "Robin", "Banks"),
]
OTHER_CLINIC_USER = ("dr.other", "physician", "Priya", "Nair")

GIVEN_F = [
    "Maria",
    "Aisha",
    "Emily",
    "Sofia",
    "Hannah",
    "Mei",
    "Olivia",
    "Fatima",
    "Grace",
    "Ingrid",
    "Lucia",
    "Noor",
    "Rachel",
    "Yuki",
    "Chloe",
]
GIVEN_M = [
    "James",
    "Daniel",
    "Mateo",
    "Omar",
    "Liam",
    "Kenji",
    "Noah",
    "Samuel",
    "Tomas",
    "Ethan",
    "Rafael",
    "David",
    "Arjun",
    "Lucas",
    "Owen",
]
FAMILY = [
    "Garcia",
    "Okonkwo",
    "Nguyen",
    "Kowalski",
    "Haddad",
    "Johansson",
    "Patel",
    "O'Brien",
    "Müller",
    "Rossi",
    "Tanaka",
    "Silva",
    "Cohen",
    "Walker",
    "Mendoza",
    "Novak",
    "Ødegård",
    "Kim",
    "Baker",
    "Fischer",
]
STREETS = ["Harbor St", "Elm Ave", "Cedar Ln", "Bayview Rd", "Pine St", "Maple Dr"]
MEDICATIONS = [
    ("Sertraline", "oral_antidepressant", "100 mg", "daily"),
    ("Escitalopram", "oral_antidepressant", "20 mg", "daily"),
    ("Bupropion XL", "oral_antidepressant", "300 mg", "daily"),
    ("Venlafaxine XR", "oral_antidepressant", "150 mg", "daily"),
    ("Lorazepam", "benzodiazepine", "0.5 mg", "as needed"),
    ("Clonazepam", "benzodiazepine", "0.5 mg", "at night"),
    ("Zolpidem", "nonbenzo_hypnotic", "5 mg", "at night"),
    ("Lamotrigine", "lamotrigine", "100 mg", "twice daily"),
    ("Amlodipine", "antihypertensive", "5 mg", "daily"),
    ("Lisinopril", "antihypertensive", "10 mg", "daily"),
    ("Methylphenidate ER", "psychostimulant", "36 mg", "mornings"),
    ("Tramadol", "opioid", "50 mg", "as needed"),
]
ALLERGIES = [
    ("Penicillin", "rash", "moderate"),
    ("Sulfa drugs", "hives", "mild"),
    ("Latex", "contact dermatitis", "mild"),
    ("Codeine", "vomiting", "moderate"),
]
CONDITION_MIX = [
    (["mdd"], "F33.2"),
    (["mdd"], "F33.1"),
    (["mdd", "gad"], "F33.2"),
    (["mdd", "ptsd"], "F33.1"),
    (["bipolar_depression"], "F31.4"),
    (["ptsd"], "F43.10"),
    (["crps"], "G90.50"),
    (["fibromyalgia"], "M79.7"),
    (["mdd", "suicidal_ideation"], "F32.2"),
]
STATUSES = ["referred", "screening", "active", "active", "maintenance", "active", "inactive"]


class Command(BaseCommand):
    help = "Load the demo clinic (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options):
        clinic = add_clinic(
            slug=CLINIC_SLUG, name="Harbor Light Ketamine Clinic", timezone="America/New_York"
        )
        clinic.address = "200 Harbor Street, Suite 4, Portland, ME 04101"
        clinic.phone = "+1 207 555 0100"
        clinic.save(update_fields=["address", "phone"])
        for username, role, first, last in STAFF:
            add_staff(
                username=username,
                clinic=clinic,
                role=role,
                password=DEMO_PASSWORD,
                first_name=first,
                last_name=last,
                email=f"{username}@harbor.example",
                check_password=False,
            )
        other = add_clinic(
            slug="northside", name="Northside Interventional Psychiatry", timezone="America/Chicago"
        )
        username, role, first, last = OTHER_CLINIC_USER
        add_staff(
            username=username,
            clinic=other,
            role=role,
            password=DEMO_PASSWORD,
            first_name=first,
            last_name=last,
            check_password=False,
        )
        created = self.seed_patients(clinic, count=30, seed=7)
        self.seed_patients(other, count=4, seed=99)
        # The outcomes demo's past patients (their own MRN prefix) keep their own history:
        # the other parts extend only the clinic's current patients, on every run alike.
        patients = list(
            Patient.objects.filter(clinic=clinic)
            .exclude(mrn__startswith=outcomes_demo.PREFIX)
            .exclude(mrn=restricted_demo.MRN)
            .order_by("mrn")
        )
        # Each capability adds its part of the demo; lower layers first.
        measures_demo.seed(clinic, patients)
        screening_demo.seed(clinic, patients)
        scheduling_demo.seed(clinic, patients)
        review_demo.seed(clinic, patients)
        inventory_demo.seed(clinic, patients)
        treatment_demo.seed(clinic, patients)
        setup_demo.seed(clinic)
        restricted_demo.seed(clinic)  # before the outcomes' backfill reads every patient
        outcomes_demo.seed(clinic, patients)
        followup_demo.seed(clinic)
        integration_demo.seed(clinic, patients)
        replanning_demo.seed(clinic, patients)
        safety_demo.seed(clinic, patients)
        portal_demo.seed(clinic, patients)
        billing_demo.seed(clinic, patients)
        website_demo.seed(clinic, patients)
        self.stdout.write(f"demo clinic ready ({created} new patients)")

    def seed_patients(self, clinic, *, count: int, seed: int) -> int:
        rng = random.Random(seed)
        today = clinic.today()
        created = 0
        for n in range(1, count + 1):
            mrn = f"{clinic.slug[:2].upper()}{n:05d}"
            sex = rng.choice(["female", "male"])
            given = rng.choice(GIVEN_F if sex == "female" else GIVEN_M)
            family = rng.choice(FAMILY)
            height = Decimal(rng.randint(152, 178) if sex == "female" else rng.randint(165, 193))
            weight = Decimal(rng.randint(52, 118))
            measured = today - timedelta(days=rng.choice([3, 10, 21, 45, 90]))
            born = date(today.year - rng.randint(19, 74), rng.randint(1, 12), rng.randint(1, 28))
            patient, is_new = Patient.objects.get_or_create(
                clinic=clinic,
                mrn=mrn,
                defaults=dict(
                    given_name=given,
                    family_name=family,
                    preferred_name=rng.choice(["", "", "", given[:3]]),
                    birth_date=born,
                    sex_at_birth=sex,
                    pronouns=rng.choice(
                        ["", "she/her" if sex == "female" else "he/him", "they/them"]
                    ),
                    email=f"{given.lower()}.{n}@example.org",
                    phone=f"+1 207 555 {rng.randint(1000, 9999)}",
                    address=f"{rng.randint(10, 999)} {rng.choice(STREETS)}, Portland, ME",
                    emergency_contact_name=f"{rng.choice(GIVEN_F + GIVEN_M)} {family}",
                    emergency_contact_relationship=rng.choice(
                        ["spouse", "parent", "sibling", "friend"]
                    ),
                    emergency_contact_phone=f"+1 207 555 {rng.randint(1000, 9999)}",
                    escort_name=rng.choice(["", f"{rng.choice(GIVEN_F + GIVEN_M)} {family}"]),
                    escort_phone=f"+1 207 555 {rng.randint(1000, 9999)}",
                    weight_kg=weight,
                    weight_measured_on=measured,
                    height_cm=height,
                    height_measured_on=measured,
                    status=rng.choice(STATUSES),
                ),
            )
            if not is_new:
                continue
            created += 1
            codes, icd = rng.choice(CONDITION_MIX)
            for i, code in enumerate(codes):
                Condition.objects.create(
                    clinic=clinic, patient=patient, code=code, icd10cm=icd if i == 0 else ""
                )
            for name, med_class, dose, freq in rng.sample(MEDICATIONS, rng.randint(1, 3)):
                Medication.objects.create(
                    clinic=clinic,
                    patient=patient,
                    name=name,
                    med_class=med_class,
                    dose=dose,
                    frequency=freq,
                )
            if rng.random() < 0.35:
                substance, reaction, severity = rng.choice(ALLERGIES)
                Allergy.objects.create(
                    clinic=clinic,
                    patient=patient,
                    substance=substance,
                    reaction=reaction,
                    severity=severity,
                )
        return created
