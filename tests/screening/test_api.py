"""The screening API contracts: screenings, decisions, consents (exact JSON)."""

from __future__ import annotations

import hashlib
import json
from datetime import date

import pytest
from django.utils import timezone

from ketaclinic.audit.models import AuditEvent
from ketaclinic.clinical.eligibility import load_rulesets
from ketaclinic.patients.models import Patient
from ketaclinic.screening import services
from ketaclinic.screening.models import Consent, IntakeVersion, Screening
from tests.patching import patch_everywhere

pytestmark = pytest.mark.django_db

INFO_OFF_LABEL = {
    "rule": "ivm-info-off-label-consent",
    "level": "info",
    "message": "Ketamine for mood and anxiety disorders is off-label. The patient's informed "
    "consent must say so. Checked at course activation.",
    "source": "ASKP3",
}
PSYCHOSIS = {
    "rule": "ivm-exclude-psychosis-current",
    "level": "exclude",
    "message": "Current psychosis. Do not start ketamine; treat the psychosis first and "
    "reassess once it has resolved.",
    "source": "APA-2017 [verify]",
}
FULL_INTAKE = {
    "diagnoses": ["mdd"],
    "trials_asked": True,
    "trials": [
        {
            "drug": "sertraline",
            "dose": "150 mg",
            "weeks": 8,
            "adequate_dose": True,
            "response": "none",
        },
        {
            "drug": "venlafaxine",
            "dose": "225 mg",
            "weeks": 6,
            "adequate_dose": True,
            "response": "partial",
        },
    ],
    "history_asked": True,
    "history": [],
    "medications_asked": True,
    "medications": [],
    "systolic_bp": 128,
    "diastolic_bp": 82,
    "heart_rate": 72,
    "weight_kg": 70,
    "height_cm": 165,
    "suicide_risk": "none",
}


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


@pytest.fixture
def doctor(api_client, staff):
    return api_client(staff["physician"])


@pytest.fixture
def nurse(api_client, staff):
    return api_client(staff["nurse"])


@pytest.fixture
def with_intake(patient, staff):
    from ketaclinic.accounts.access import Actor

    services.save_intake(
        actor=Actor(staff["nurse"].user, staff["nurse"]), patient=patient, data=FULL_INTAKE
    )
    return patient


RULESETS = load_rulesets()


def screen(client, patient, protocol="ketamine-iv-mood", facts=None):
    return post(
        client,
        f"/api/v1/patients/{patient.pk}/screenings",
        {"protocol": protocol, **({"facts": facts} if facts is not None else {})},
    )


class TestCreateScreening:
    def test_it_evaluates_the_intake_and_answers_201(self, nurse, with_intake):
        response = screen(nurse, with_intake)
        assert response.status_code == 201
        screening = Screening.objects.get()
        assert response.json() == {
            "id": screening.pk,
            "protocol": "ketamine-iv-mood",
            "ruleset_version": 1,
            "ruleset_hash": RULESETS["ketamine-iv-mood"].file_hash,
            "decision": "eligible",
            "findings": [INFO_OFF_LABEL],
            "missing": [],
        }
        assert screening.facts == {
            "age": with_intake.age,
            "diagnoses": ["mdd"],
            "failed_adequate_trials": 2,
            "history": [],
            "medications": [],
            "systolic_bp": 128,
            "diastolic_bp": 82,
            "heart_rate": 72,
            "weight_kg": 70.0,
            "height_cm": 165.0,
            "suicide_risk": "none",
        }
        assert screening.intake == IntakeVersion.objects.get()

    def test_posted_facts_take_precedence_over_the_intake(self, nurse, with_intake):
        response = screen(nurse, with_intake, facts={"history": ["psychosis_current"]})
        assert response.status_code == 201
        assert response.json()["decision"] == "ineligible"
        assert response.json()["findings"] == [PSYCHOSIS, INFO_OFF_LABEL]
        assert Screening.objects.get().overrides == {"history": ["psychosis_current"]}

    def test_a_null_fact_makes_it_unknown(self, nurse, with_intake):
        response = screen(nurse, with_intake, facts={"history": None})
        assert response.status_code == 201
        assert response.json()["decision"] == "needs_review"
        assert response.json()["missing"] == ["history"]
        assert Screening.objects.get().overrides == {"history": None}

    def test_it_pre_screens_a_patient_without_intake(self, nurse, patient):
        response = screen(nurse, patient, facts={"history": ["psychosis_current"]})
        assert response.status_code == 201
        assert response.json() == {
            "id": Screening.objects.get().pk,
            "protocol": "ketamine-iv-mood",
            "ruleset_version": 1,
            "ruleset_hash": RULESETS["ketamine-iv-mood"].file_hash,
            "decision": "ineligible",
            "findings": [PSYCHOSIS, INFO_OFF_LABEL],
            "missing": [
                "diagnoses",
                "diastolic_bp",
                "failed_adequate_trials",
                "medications",
                "suicide_risk",
                "systolic_bp",
            ],
        }

    def test_it_moves_a_referred_patient_to_screening(self, nurse, patient):
        screen(nurse, patient, facts={})
        patient.refresh_from_db()
        assert patient.status == "screening"
        assert patient.version == 2

    @pytest.mark.parametrize(
        ("facts", "name"),
        [
            ({"favourite_colour": "blue"}, "favourite_colour"),
            ({"age": "forty"}, "age"),
            ({"history": "psychosis_current"}, "history"),
            ({"history": ["psychosis"]}, "history"),
            ({"systolic_bp": 400}, "systolic_bp"),
            ({"suicide_risk": "extreme"}, "suicide_risk"),
            ({"weight_kg": True}, "weight_kg"),
        ],
    )
    def test_it_refuses_bad_facts_naming_the_fact(self, nurse, patient, facts, name):
        response = screen(nurse, patient, facts=facts)
        assert response.status_code == 422
        detail = response.json()["detail"]
        assert [d["loc"] for d in detail] == [["body", "facts", name]]
        assert Screening.objects.count() == 0
        assert Patient.objects.get().status == "referred"

    def test_it_refuses_an_unknown_protocol_naming_it(self, nurse, patient):
        response = screen(nurse, patient, protocol="ketamine-oral", facts={})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "protocol"]
        assert Screening.objects.count() == 0

    @pytest.mark.parametrize("role", ["therapist", "front_desk", "admin"])
    def test_roles_that_do_not_screen_get_403(self, api_client, staff, patient, role):
        response = screen(api_client(staff[role]), patient, facts={})
        assert response.status_code == 403
        assert Screening.objects.count() == 0

    def test_another_clinics_patient_is_404(self, api_client, outsider, patient):
        assert screen(api_client(outsider), patient, facts={}).status_code == 404

    def test_the_explanation_is_stable_after_the_rules_change(
        self, nurse, doctor, with_intake, monkeypatch
    ):
        first = screen(nurse, with_intake).json()
        original = services.rulesets()
        changed = original["ketamine-iv-mood"].model_copy(
            update={
                "version": 2,
                "rules": tuple(
                    r
                    for r in original["ketamine-iv-mood"].rules
                    if r.id != "ivm-info-off-label-consent"
                ),
            }
        )
        patch_everywhere(
            monkeypatch, services, "rulesets", lambda: {**original, "ketamine-iv-mood": changed}
        )
        second = screen(nurse, with_intake).json()
        assert (second["ruleset_version"], second["findings"]) == (2, [])
        again = doctor.get(f"/api/v1/screenings/{first['id']}").json()
        assert {k: again[k] for k in first} == first


class TestReadScreenings:
    def test_it_reads_one_and_lists_them(self, nurse, doctor, with_intake):
        created = screen(nurse, with_intake).json()
        one = doctor.get(f"/api/v1/screenings/{created['id']}")
        assert one.status_code == 200
        screening = Screening.objects.get()
        assert one.json() == {
            **created,
            "patient_id": with_intake.pk,
            "intake_version": 1,
            "facts": screening.facts,
            "facts_overridden": [],
            "created_at": screening.created_at.isoformat(),
            "signoff": None,
        }
        listed = doctor.get(f"/api/v1/patients/{with_intake.pk}/screenings").json()
        assert listed == [one.json()]
        assert (
            AuditEvent.objects.filter(action="view", object_type="screening.screening").count() == 2
        )

    def test_front_desk_may_not_read_screenings(self, api_client, staff, nurse, with_intake):
        created = screen(nurse, with_intake).json()
        assert (
            api_client(staff["front_desk"]).get(f"/api/v1/screenings/{created['id']}").status_code
            == 403
        )

    def test_another_clinic_gets_404(self, api_client, outsider, nurse, with_intake):
        created = screen(nurse, with_intake).json()
        assert api_client(outsider).get(f"/api/v1/screenings/{created['id']}").status_code == 404


class TestDecision:
    def decide(self, client, screening_id, body):
        return post(client, f"/api/v1/screenings/{screening_id}/decision", body)

    def test_a_physician_accepts_and_the_patient_becomes_active(self, nurse, doctor, with_intake):
        created = screen(nurse, with_intake).json()
        response = self.decide(doctor, created["id"], {"decision": "accept"})
        assert response.status_code == 200
        screening = Screening.objects.get()
        assert response.json()["signoff"] == {
            "decision": "accept",
            "override": False,
            "reason": "",
            "physician": "Lena Chen",
            "signed_at": screening.decided_at.isoformat(),
        }
        assert Patient.objects.get().status == "active"
        event = AuditEvent.objects.get(action="sign")
        assert event.detail == {
            "decision": "accept",
            "result": "eligible",
            "protocol": "ketamine-iv-mood",
            "status": "active",
        }

    @pytest.mark.parametrize("role", ["nurse", "therapist", "front_desk", "admin"])
    def test_only_physicians_decide(self, api_client, staff, nurse, with_intake, role):
        created = screen(nurse, with_intake).json()
        response = self.decide(api_client(staff[role]), created["id"], {"decision": "accept"})
        assert response.status_code == 403
        screening = Screening.objects.get()
        assert (screening.decision, screening.decided_by, screening.decided_at) == ("", None, None)
        assert Patient.objects.get().status == "screening"
        assert not AuditEvent.objects.filter(action="sign").exists()

    def test_accepting_an_ineligible_result_is_409(self, nurse, doctor, with_intake):
        created = screen(nurse, with_intake, facts={"history": ["psychosis_current"]}).json()
        response = self.decide(doctor, created["id"], {"decision": "accept"})
        assert response.status_code == 409
        assert response.json() == {
            "detail": "The evaluation is ineligible: it cannot be accepted. Decline it, or "
            "override it with a written reason.",
            "conflicts": ["ivm-exclude-psychosis-current"],
        }
        assert Screening.objects.get().decision == ""
        assert Patient.objects.get().status == "screening"

    def test_an_override_needs_a_reason(self, nurse, doctor, with_intake):
        created = screen(nurse, with_intake, facts={"history": ["psychosis_current"]}).json()
        response = self.decide(doctor, created["id"], {"decision": "override", "reason": "  "})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "reason"]
        assert Screening.objects.get().decision == ""

    def test_an_override_with_a_reason_is_signed_and_flagged(self, nurse, doctor, with_intake):
        created = screen(nurse, with_intake, facts={"history": ["psychosis_current"]}).json()
        response = self.decide(
            doctor,
            created["id"],
            {"decision": "override", "reason": "Resolved; psychiatrist agrees"},
        )
        assert response.status_code == 200
        assert response.json()["signoff"]["override"] is True
        assert response.json()["signoff"]["reason"] == "Resolved; psychiatrist agrees"
        assert response.json()["decision"] == "ineligible"
        assert Patient.objects.get().status == "active"

    def test_an_eligible_result_cannot_be_overridden(self, nurse, doctor, with_intake):
        created = screen(nurse, with_intake).json()
        response = self.decide(doctor, created["id"], {"decision": "override", "reason": "x"})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "decision"]
        assert Screening.objects.get().decision == ""

    @pytest.mark.parametrize(
        ("facts", "decision", "msg"),
        [
            (None, "decline", "Declining an eligible result needs a written reason."),
            (
                {"history": ["pregnant"]},
                "accept",
                "Accepting a result that needs review needs a written reason: say how the "
                "flagged findings were reviewed.",
            ),
        ],
    )
    def test_a_decision_against_the_engine_needs_a_written_reason(
        self, nurse, doctor, with_intake, facts, decision, msg
    ):
        created = screen(nurse, with_intake, facts=facts).json()
        before = AuditEvent.objects.filter(action="sign").count()
        for reason in ("", "   "):
            response = self.decide(doctor, created["id"], {"decision": decision, "reason": reason})
            assert response.status_code == 422
            assert response.json()["detail"] == [{"loc": ["body", "reason"], "msg": msg}]
        assert Screening.objects.get().decision == ""
        assert Patient.objects.get().status == "screening"
        assert AuditEvent.objects.filter(action="sign").count() == before
        signed = self.decide(
            doctor, created["id"], {"decision": decision, "reason": "Discussed with the team"}
        )
        assert signed.status_code == 200
        assert signed.json()["signoff"]["reason"] == "Discussed with the team"

    def test_a_needs_review_result_is_accepted_not_overridden(self, nurse, doctor, with_intake):
        created = screen(nurse, with_intake, facts={"history": ["pregnant"]}).json()
        assert created["decision"] == "needs_review"
        response = self.decide(doctor, created["id"], {"decision": "override", "reason": "x"})
        assert response.status_code == 422
        assert response.json()["detail"] == [
            {
                "loc": ["body", "decision"],
                "msg": "Only an ineligible result is overridden; accept or decline this one.",
            }
        ]
        assert Screening.objects.get().decision == ""
        assert Patient.objects.get().status == "screening"
        accepted = self.decide(
            doctor, created["id"], {"decision": "accept", "reason": "Discussed; plans to stop"}
        )
        assert accepted.status_code == 200
        assert accepted.json()["signoff"]["override"] is False
        assert Patient.objects.get().status == "active"

    def test_an_unknown_decision_is_422(self, nurse, doctor, with_intake):
        created = screen(nurse, with_intake).json()
        response = self.decide(doctor, created["id"], {"decision": "maybe"})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "decision"]

    def test_a_decline_keeps_the_patient_in_screening(self, nurse, doctor, with_intake):
        created = screen(nurse, with_intake, facts={"history": ["psychosis_current"]}).json()
        assert (
            self.decide(
                doctor, created["id"], {"decision": "decline", "reason": "Refer"}
            ).status_code
            == 200
        )
        assert Patient.objects.get().status == "screening"

    def test_a_screening_is_decided_once(self, nurse, doctor, with_intake):
        created = screen(nurse, with_intake).json()
        self.decide(doctor, created["id"], {"decision": "accept"})
        response = self.decide(doctor, created["id"], {"decision": "decline", "reason": "Later"})
        assert response.status_code == 409
        assert Screening.objects.get().decision == "accept"

    def test_another_clinics_physician_gets_404(self, api_client, outsider, nurse, with_intake):
        created = screen(nurse, with_intake).json()
        assert (
            self.decide(api_client(outsider), created["id"], {"decision": "accept"}).status_code
            == 404
        )


class TestIntakeApi:
    def test_it_stores_versions_and_derives_failed_trials(self, nurse, patient):
        first = post(nurse, f"/api/v1/patients/{patient.pk}/intakes", {"data": FULL_INTAKE})
        assert first.status_code == 201
        assert first.json()["version"] == 1
        assert first.json()["facts"]["failed_adequate_trials"] == 2
        second = post(
            nurse,
            f"/api/v1/patients/{patient.pk}/intakes",
            {"data": {**FULL_INTAKE, "systolic_bp": 150}},
        )
        assert second.json()["version"] == 2
        listed = nurse.get(f"/api/v1/patients/{patient.pk}/intakes").json()
        assert [(v["version"], v["data"]["systolic_bp"]) for v in listed] == [(2, 150), (1, 128)]

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"systolic_bp": 20}, "systolic_bp"),
            ({"diastolic_bp": 250}, "diastolic_bp"),
            ({"heart_rate": 400}, "heart_rate"),
            ({"weight_kg": 10}, "weight_kg"),
            ({"height_cm": 300}, "height_cm"),
            ({"systolic_bp": 80, "diastolic_bp": 90}, "systolic_bp"),
        ],
    )
    def test_impossible_vitals_are_refused_naming_the_field(self, nurse, patient, change, field):
        response = post(
            nurse, f"/api/v1/patients/{patient.pk}/intakes", {"data": {**FULL_INTAKE, **change}}
        )
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", field]
        assert IntakeVersion.objects.count() == 0


class TestConsentApi:
    def test_it_lists_templates_with_the_clinic_name(self, nurse):
        templates = nurse.get("/api/v1/consent-templates").json()
        by_family = {t["family"]: t for t in templates}
        assert sorted(by_family) == [
            "esketamine-nasal",
            "ketamine-im-mood",
            "ketamine-iv-mood",
            "ketamine-iv-pain",
        ]
        assert "**Harbor Light**" in by_family["ketamine-iv-mood"]["text"]
        assert "off-label" in by_family["ketamine-iv-mood"]["text"]
        assert by_family["esketamine-nasal"]["rems"] is True
        assert "rems_enrollment" in [r["id"] for r in by_family["esketamine-nasal"]["risks"]]

    def sign(self, client, patient, **overrides):
        template = client.get("/api/v1/consent-templates").json()
        risks = next(t for t in template if t["template"] == "ketamine-iv-mood")["risks"]
        body = {
            "template": "ketamine-iv-mood",
            "signed_name": "maria  GARCIA",
            "acknowledgements": [r["id"] for r in risks],
            **overrides,
        }
        return post(client, f"/api/v1/patients/{patient.pk}/consents", body)

    def test_it_signs_and_answers_201_with_the_pdf_link(self, nurse, patient, settings):
        response = self.sign(nurse, patient)
        assert response.status_code == 201
        consent = Consent.objects.get()
        today = timezone.localtime(consent.signed_at, patient.clinic.tz).date()
        assert response.json() == {
            "id": consent.pk,
            "patient_id": patient.pk,
            "template": "ketamine-iv-mood",
            "family": "ketamine-iv-mood",
            "template_version": 1,
            "title": "Consent to intravenous ketamine for depression or a related condition",
            "signed_name": "maria GARCIA",
            "signed_at": consent.signed_at.isoformat(),
            "expires_on": today.replace(year=today.year + 1).isoformat(),
            "state": "valid",
            "witness": "Grace Okafor",
            "rems_enrollment": False,
            "prescriber_signed_at": None,
            "withdrawn_at": None,
            "withdrawn_reason": "",
            "pdf_sha256": consent.pdf_sha256,
            "pdf_url": f"/api/v1/consents/{consent.pk}/pdf",
        }
        pdf = bytes(consent.pdf)
        assert pdf.startswith(b"%PDF")
        # The PDF holds exactly what was signed (uncompressed text): name, witness, text.
        for fragment in (
            b"maria GARCIA",
            b"Grace Okafor",
            b"Harbor Light",
            b"off-label",
            b"[x] I understand",
            # The form as the patient knows it, not the template's internal code.
            b"Consent to intravenous ketamine for depression or a related condition, version 1",
        ):
            assert fragment in pdf, fragment
        assert b"ketamine-iv-mood" not in pdf
        assert hashlib.sha256(pdf).hexdigest() == consent.pdf_sha256
        assert "Harbor Light" in consent.text
        download = nurse.get(response.json()["pdf_url"])
        assert download.status_code == 200
        assert download.content == pdf
        assert AuditEvent.objects.filter(action="download", object_id=str(consent.pk)).count() == 1

    def test_expiry_follows_the_setting(self, nurse, patient, settings):
        settings.KETACLINIC_CONSENT_MONTHS = 6
        self.sign(nurse, patient)
        consent = Consent.objects.get()
        from dateutil.relativedelta import relativedelta

        assert consent.expires_on == consent.signed_on + relativedelta(months=6)

    def test_the_typed_name_must_match(self, nurse, patient):
        response = self.sign(nurse, patient, signed_name="Maria Garci")
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "signed_name"]
        assert Consent.objects.count() == 0

    def test_every_risk_must_be_ticked(self, nurse, patient):
        response = self.sign(nurse, patient, acknowledgements=["off_label"])
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "acknowledgements"]
        assert Consent.objects.count() == 0

    def test_an_unknown_template_is_422(self, nurse, patient):
        response = self.sign(nurse, patient, template="nope")
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "template"]

    @pytest.mark.parametrize("role", ["therapist", "front_desk", "admin"])
    def test_other_roles_may_not_record_consent(self, api_client, staff, patient, role):
        assert self.sign(api_client(staff[role]), patient).status_code == 403
        assert Consent.objects.count() == 0

    def test_it_withdraws_with_a_reason(self, nurse, patient):
        consent_id = self.sign(nurse, patient).json()["id"]
        response = post(
            nurse,
            f"/api/v1/consents/{consent_id}/withdraw",
            {"reason": "Patient changed their mind"},
        )
        assert response.status_code == 200
        body = response.json()
        assert (body["state"], body["withdrawn_reason"]) == (
            "withdrawn",
            "Patient changed their mind",
        )
        consent = Consent.objects.get()
        assert consent.withdrawn_by_name == "Grace Okafor"
        again = post(nurse, f"/api/v1/consents/{consent_id}/withdraw", {"reason": "again"})
        assert again.status_code == 422
        consent.refresh_from_db()
        assert consent.withdrawn_reason == "Patient changed their mind"

    def test_it_withdraws_without_a_body_because_no_reason_is_owed(self, nurse, patient):
        consent_id = self.sign(nurse, patient).json()["id"]
        # An empty body, as `curl -X POST` sends it.
        response = nurse.post(
            f"/api/v1/consents/{consent_id}/withdraw", content_type="application/json"
        )
        assert response.status_code == 200
        body = response.json()
        assert (body["state"], body["withdrawn_reason"]) == ("withdrawn", "")
        consent = Consent.objects.get()
        assert consent.withdrawn_by_name == "Grace Okafor"
        assert AuditEvent.objects.filter(action="withdraw", object_id=str(consent_id)).count() == 1

    def test_a_therapist_may_not_withdraw(self, api_client, staff, nurse, patient):
        consent_id = self.sign(nurse, patient).json()["id"]
        response = api_client(staff["therapist"]).post(
            f"/api/v1/consents/{consent_id}/withdraw", content_type="application/json"
        )
        assert response.status_code == 403
        assert Consent.objects.get().withdrawn_at is None

    def test_the_prescriber_co_signs_the_rems_enrollment(self, nurse, doctor, patient):
        templates = nurse.get("/api/v1/consent-templates").json()
        risks = next(t for t in templates if t["template"] == "esketamine-nasal")["risks"]
        created = post(
            nurse,
            f"/api/v1/patients/{patient.pk}/consents",
            {
                "template": "esketamine-nasal",
                "signed_name": "Maria Garcia",
                "acknowledgements": [r["id"] for r in risks],
            },
        ).json()
        assert created["rems_enrollment"] is True
        assert post(nurse, f"/api/v1/consents/{created['id']}/rems-cosign", {}).status_code == 403
        signed = post(doctor, f"/api/v1/consents/{created['id']}/rems-cosign", {})
        assert signed.status_code == 200
        assert signed.json()["prescriber_signed_at"] is not None
        from ketaclinic.screening.gates import missing_for_course

        assert missing_for_course(
            patient=patient, family="esketamine-nasal", on=patient.clinic.today()
        ) == ["An eligibility evaluation for Esketamine nasal spray accepted by a physician."]


class TestNotesAndLinksApi:
    def test_a_physician_signs_and_amends_a_note(self, nurse, doctor, with_intake):
        created = screen(nurse, with_intake).json()
        url = f"/api/v1/patients/{with_intake.pk}/consultation-notes"
        assert post(nurse, url, {"text": "x"}).status_code == 403
        response = post(
            doctor, url, {"text": "Discussed IV ketamine.", "screening_id": created["id"]}
        )
        assert response.status_code == 201
        body = response.json()
        assert (
            body["intake_version"],
            body["screening_id"],
            body["override"],
            body["signed_by"],
        ) == (
            1,
            created["id"],
            False,
            "Lena Chen",
        )
        refused = post(
            doctor,
            f"/api/v1/consultation-notes/{body['id']}/amendments",
            {"text": "More", "reason": " "},
        )
        assert refused.status_code == 422
        assert refused.json()["detail"][0]["loc"] == ["body", "reason"]
        amended = post(
            doctor,
            f"/api/v1/consultation-notes/{body['id']}/amendments",
            {"text": "BP recheck planned.", "reason": "Omitted"},
        )
        assert amended.status_code == 201
        assert amended.json()["text"] == "Discussed IV ketamine."
        assert [a["text"] for a in amended.json()["amendments"]] == ["BP recheck planned."]
        assert [n["id"] for n in nurse.get(url).json()] == [body["id"]]

    def test_a_note_cannot_cite_another_patients_screening(
        self, doctor, nurse, with_intake, clinic
    ):
        other = Patient.objects.create(
            clinic=clinic,
            mrn="MRN000009",
            given_name="Ben",
            family_name="Ode",
            birth_date=date(1970, 1, 1),
            sex_at_birth="male",
        )
        created = screen(nurse, other, facts={}).json()
        response = post(
            doctor,
            f"/api/v1/patients/{with_intake.pk}/consultation-notes",
            {"text": "x", "screening_id": created["id"]},
        )
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "screening_id"]

    def test_links_are_returned_once_and_stored_hashed(self, nurse, patient):
        from ketaclinic.screening.models import ConsentLink, IntakeLink

        intake = post(nurse, f"/api/v1/patients/{patient.pk}/intake-links", {})
        assert intake.status_code == 201
        token = intake.json()["url"].rstrip("/").rsplit("/", 1)[1]
        assert IntakeLink.objects.get().digest == hashlib.sha256(token.encode()).hexdigest()
        consent = post(
            nurse, f"/api/v1/patients/{patient.pk}/consent-links", {"template": "ketamine-iv-pain"}
        )
        assert consent.status_code == 201
        assert ConsentLink.objects.get().template_key == "ketamine-iv-pain"
        bad = post(nurse, f"/api/v1/patients/{patient.pk}/consent-links", {"template": "nope"})
        assert bad.status_code == 422
        assert bad.json()["detail"][0]["loc"] == ["body", "template"]


class TestAuditFixes:
    def test_a_posted_age_is_refused_when_the_birth_date_is_known(self, nurse, with_intake):
        response = screen(nurse, with_intake, facts={"age": 30})
        assert response.status_code == 422
        assert [d["loc"] for d in response.json()["detail"]] == [["body", "facts", "age"]]
        assert Screening.objects.count() == 0
        assert Patient.objects.get().status == "referred"

    @pytest.mark.parametrize(
        ("url", "body", "key"),
        [
            (
                "/api/v1/patients/{patient}/screenings",
                {"protocol": "ketamine-iv-mood", "fact": {"age": 12}},
                "fact",
            ),
            ("/api/v1/patients/{patient}/intakes", {"data": {}, "vitals": {}}, "vitals"),
        ],
    )
    def test_an_unknown_body_key_is_refused_naming_it(self, nurse, patient, url, body, key):
        response = post(nurse, url.format(patient=patient.pk), body)
        assert response.status_code == 422
        assert [d["loc"][-1] for d in response.json()["detail"]] == [key]
        assert Screening.objects.count() == 0
        assert IntakeVersion.objects.count() == 0

    def test_an_unknown_decision_key_is_refused(self, nurse, doctor, with_intake):
        created = screen(nurse, with_intake).json()
        response = post(
            doctor,
            f"/api/v1/screenings/{created['id']}/decision",
            {"decision": "accept", "reasons": "typo"},
        )
        assert response.status_code == 422
        assert [d["loc"][-1] for d in response.json()["detail"]] == ["reasons"]
        assert Screening.objects.get().decision == ""

    def test_the_consent_state_is_the_clinics_date_not_the_servers(
        self, nurse, patient, clinic, monkeypatch
    ):
        from datetime import UTC, datetime

        clinic.timezone = "Pacific/Auckland"
        clinic.save()
        consent_id = TestConsentApi().sign(nurse, patient).json()["id"]
        # 01:30 on 2 December in Auckland is still 1 December in UTC.
        monkeypatch.setattr(timezone, "now", lambda: datetime(2026, 12, 1, 12, 30, tzinfo=UTC))
        Consent.objects.filter(pk=consent_id).update(
            signed_on=date(2025, 12, 2), expires_on=date(2026, 12, 2)
        )
        listed = nurse.get(f"/api/v1/patients/{patient.pk}/consents").json()
        assert [c["state"] for c in listed] == ["expired"]

    def test_the_prescriber_cannot_co_sign_an_expired_rems_enrollment(self, nurse, doctor, patient):
        templates = nurse.get("/api/v1/consent-templates").json()
        risks = next(t for t in templates if t["template"] == "esketamine-nasal")["risks"]
        created = post(
            nurse,
            f"/api/v1/patients/{patient.pk}/consents",
            {
                "template": "esketamine-nasal",
                "signed_name": "Maria Garcia",
                "acknowledgements": [r["id"] for r in risks],
            },
        ).json()
        today = patient.clinic.today()
        Consent.objects.filter(pk=created["id"]).update(
            signed_on=today.replace(year=today.year - 1), expires_on=today
        )
        response = post(doctor, f"/api/v1/consents/{created['id']}/rems-cosign", {})
        assert response.status_code == 422
        assert response.json()["detail"] == [
            {
                "loc": ["body", "consent"],
                "msg": "This consent has expired; the patient must sign a new one.",
            }
        ]
        consent = Consent.objects.get()
        assert (consent.prescriber_id, consent.prescriber_signed_at) == (None, None)
        assert not AuditEvent.objects.filter(
            action="sign", object_id=str(consent.pk), detail__what="rems_prescriber"
        ).exists()
