"""The screening pages: intake, links, result and decision, consultation, consent, chart."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.audit.models import AuditEvent
from ketaclinic.patients.models import Medication, Patient
from ketaclinic.screening import services
from ketaclinic.screening.consent import load_templates
from ketaclinic.screening.models import (
    Consent,
    ConsultationNote,
    IntakeLink,
    IntakeVersion,
    NoteAmendment,
    Screening,
)

pytestmark = pytest.mark.django_db

INTAKE_POST = {
    "diagnoses_asked": "on",
    "diagnoses": ["mdd"],
    "trials_asked": "on",
    "trial_count": "2",
    "trial-0-drug": "Sertraline",
    "trial-0-dose": "150 mg",
    "trial-0-weeks": "8",
    "trial-0-adequate_dose": "on",
    "trial-0-response": "none",
    "trial-1-drug": "Bupropion",
    "trial-1-dose": "300 mg",
    "trial-1-weeks": "4",
    "trial-1-adequate_dose": "on",
    "trial-1-response": "partial",
    "history_asked": "on",
    "history": ["psychosis_history"],
    "pregnancy": [],
    "medications_asked": "on",
    "medications": ["oral_antidepressant"],
    "systolic_bp": "132",
    "diastolic_bp": "84",
    "heart_rate": "76",
    "weight_kg": "70",
    "height_cm": "165",
    "suicide_risk": "low",
    "allergies": "Penicillin (rash)",
    "psychiatric_history": "Two episodes of MDD.",
}


def actor(membership):
    return Actor(membership.user, membership)


@pytest.fixture(autouse=True)
def clear_cache():
    cache.clear()


class TestIntakePage:
    def test_a_nurse_saves_a_structured_intake_as_a_new_version(self, login, staff, patient):
        client = login(staff["nurse"])
        url = reverse("screening_intake_save", args=[patient.pk])
        response = client.post(url, INTAKE_POST)
        assert response.status_code == 302
        version = IntakeVersion.objects.get()
        assert version.data == {
            "diagnoses": ["mdd"],
            "trials_asked": True,
            "trials": [
                {
                    "drug": "Sertraline",
                    "dose": "150 mg",
                    "weeks": 8,
                    "adequate_dose": True,
                    "response": "none",
                },
                {
                    "drug": "Bupropion",
                    "dose": "300 mg",
                    "weeks": 4,
                    "adequate_dose": True,
                    "response": "partial",
                },
            ],
            "history_asked": True,
            "history": ["psychosis_history"],
            "medications_asked": True,
            "medications": ["oral_antidepressant"],
            "psychiatric_history": "Two episodes of MDD.",
            "allergies": "Penicillin (rash)",
            "suicide_risk": "low",
            "systolic_bp": 132,
            "diastolic_bp": 84,
            "heart_rate": 76,
            "weight_kg": 70.0,
            "height_cm": 165.0,
        }
        facts = services.facts_for(patient, on=date(2026, 11, 25))
        assert (facts.age, facts.failed_adequate_trials) == (42, 1)
        client.post(url, {**INTAKE_POST, "systolic_bp": "150"})
        assert list(
            IntakeVersion.objects.order_by("version").values_list("version", "data__systolic_bp")
        ) == [
            (1, 132),
            (2, 150),
        ]
        old = client.get(reverse("screening_intake_version", args=[patient.pk, 1]))
        assert "132/84 mmHg" in old.content.decode()

    def test_an_unasked_checklist_stays_unknown(self, login, staff, patient):
        client = login(staff["nurse"])
        post = {k: v for k, v in INTAKE_POST.items() if k not in ("history_asked", "history")}
        client.post(reverse("screening_intake_save", args=[patient.pk]), post)
        assert services.facts_for(patient).history is None

    def test_an_impossible_value_is_refused_naming_the_field(self, login, staff, patient):
        client = login(staff["nurse"])
        response = client.post(
            reverse("screening_intake_save", args=[patient.pk]),
            {**INTAKE_POST, "heart_rate": "400"},
        )
        assert response.status_code == 422
        assert response.context["form"].errors["heart_rate"]
        assert "400 bpm is not plausible" in response.content.decode()
        assert IntakeVersion.objects.count() == 0

    def test_add_a_trial_adds_a_row_without_saving(self, login, staff, patient):
        client = login(staff["nurse"])
        response = client.post(
            reverse("screening_intake_save", args=[patient.pk]), {**INTAKE_POST, "add_trial": "1"}
        )
        assert len(response.context["form"].trial_rows) == 3
        assert IntakeVersion.objects.count() == 0

    def test_medication_classes_are_prefilled_from_the_chart(self, login, staff, patient, clinic):
        Medication.objects.create(
            clinic=clinic, patient=patient, name="Lorazepam", med_class="benzodiazepine"
        )
        response = login(staff["nurse"]).get(reverse("screening_intake", args=[patient.pk]))
        assert response.context["form"].initial["medications"] == ["benzodiazepine"]

    def test_a_therapist_reads_but_cannot_save(self, login, staff, patient):
        client = login(staff["therapist"])
        assert client.get(reverse("screening_intake", args=[patient.pk])).status_code == 200
        assert (
            client.post(
                reverse("screening_intake_save", args=[patient.pk]), INTAKE_POST
            ).status_code
            == 403
        )
        assert IntakeVersion.objects.count() == 0

    def test_front_desk_cannot_open_the_intake(self, login, staff, patient):
        assert (
            login(staff["front_desk"])
            .get(reverse("screening_intake", args=[patient.pk]))
            .status_code
            == 403
        )


class TestIntakeLink:
    def make(self, staff, patient):
        return services.create_intake_link(actor=actor(staff["nurse"]), patient=patient)

    def test_only_the_hash_is_stored_and_the_page_shows_only_the_clinic(
        self, client, staff, patient
    ):
        link, token = self.make(staff, patient)
        assert token not in link.digest and len(link.digest) == 64
        page = client.get(reverse("screening_public_intake", args=[token]))
        assert page.status_code == 200
        html = page.content.decode()
        assert "Harbor Light" in html
        assert "Garcia" not in html and "Maria" not in html and "MRN" not in html

    def test_the_patient_fills_the_history_once(self, client, staff, patient):
        services.save_intake(
            actor=actor(staff["nurse"]),
            patient=patient,
            data={
                "systolic_bp": 120,
                "diastolic_bp": 80,
                "suicide_risk": "none",
                "trials_asked": True,
                "trials": [
                    {"drug": "Sertraline", "weeks": 8, "adequate_dose": True, "response": "none"}
                ],
            },
        )
        _, token = self.make(staff, patient)
        url = reverse("screening_public_intake", args=[token])
        response = client.post(
            url,
            {
                "history_asked": "on",
                "history": ["substance_use_history"],
                "medications_asked": "on",
                "trial_count": "0",
                # a patient cannot set vitals or risk through the link
                "systolic_bp": "200",
                "suicide_risk": "high",
            },
        )
        assert "Thank you" in response.content.decode()
        latest = services.latest_intake(patient)
        assert (latest.version, latest.source) == (2, "patient")
        assert latest.data == {
            "history_asked": True,
            "history": ["substance_use_history"],
            "medications_asked": True,
            "medications": [],
            "systolic_bp": 120,
            "diastolic_bp": 80,
            "suicide_risk": "none",
            # the patient left the trials unconfirmed: the staff's answer is kept
            "trials_asked": True,
            "trials": [
                {
                    "drug": "Sertraline",
                    "dose": "",
                    "weeks": 8,
                    "adequate_dose": True,
                    "response": "none",
                }
            ],
        }
        event = AuditEvent.objects.filter(role="patient").get()
        assert (event.patient_id, event.action) == (patient.pk, "create")
        again = client.get(url)
        assert again.status_code == 410
        assert "already been used" in again.content.decode()

    def test_an_expired_link_says_so(self, client, staff, patient):
        link, token = self.make(staff, patient)
        IntakeLink.objects.filter(pk=link.pk).update(
            expires_at=timezone.now() - timedelta(minutes=1)
        )
        response = client.get(reverse("screening_public_intake", args=[token]))
        assert response.status_code == 410
        assert "expired" in response.content.decode()

    def test_an_unknown_token_is_404(self, client):
        response = client.get(reverse("screening_public_intake", args=["kl_nope"]))
        assert response.status_code == 404
        assert "not valid" in response.content.decode()

    def test_it_is_rate_limited(self, client, settings):
        for _ in range(30):
            client.get(reverse("screening_public_intake", args=["kl_guess"]))
        assert client.get(reverse("screening_public_intake", args=["kl_guess"])).status_code == 429

    def test_the_staff_page_shows_the_link_once(self, login, staff, patient):
        response = login(staff["nurse"]).post(reverse("screening_intake_link", args=[patient.pk]))
        assert "/intake-link/kl_" in response.content.decode()


@pytest.fixture
def ineligible(staff, patient):
    return services.run_screening(
        actor=actor(staff["nurse"]),
        patient=patient,
        protocol="ketamine-iv-mood",
        overrides={"history": ["psychosis_current"]},
    )


class TestResultAndDecision:
    def test_the_result_explains_each_finding_and_the_missing_facts(self, login, staff, ineligible):
        response = login(staff["nurse"]).get(reverse("screening_result", args=[ineligible.pk]))
        html = response.content.decode()
        assert "⛔ Ineligible" in html
        assert (
            "⛔ Exclude" in html
            and "Current psychosis." in html
            and "Source: APA-2017 [verify]" in html
        )
        assert "ℹ Info" in html
        assert "? Not known</span> antidepressant trials with inadequate response" in html
        assert "failed_adequate_trials" not in html.split("<main", 1)[1].replace('name="', "")
        assert "Sign decision" not in html  # a nurse sees no decision form

    def test_a_physician_overrides_with_a_reason_and_it_is_flagged(
        self, login, staff, patient, ineligible
    ):
        client = login(staff["physician"])
        url = reverse("screening_decide", args=[ineligible.pk])
        refused = client.post(url, {"decision": "override", "reason": ""})
        assert refused.status_code == 422
        assert "An override needs a written reason." in refused.content.decode()
        page = client.get(reverse("screening_result", args=[ineligible.pk])).content.decode()
        assert "Override the exclusion" in page and 'value="accept"' not in page
        accept = client.post(url, {"decision": "accept"})
        assert accept.status_code == 422
        assert "Select a valid choice." in accept.content.decode()
        assert Screening.objects.get().decision == ""
        client.post(
            url, {"decision": "override", "reason": "Psychosis resolved 2019; psychiatrist agrees"}
        )
        for page in (
            reverse("screening_result", args=[ineligible.pk]),
            reverse("patient_chart", args=[patient.pk]),
            reverse("screening_consultation", args=[patient.pk]),
        ):
            html = client.get(page).content.decode()
            assert "⚑ Accepted (override)" in html, page
            assert "Psychosis resolved 2019; psychiatrist agrees" in html, page
        assert Patient.objects.get().status == "active"

    def test_a_needs_review_result_offers_accept_and_decline_only(self, login, staff, patient):
        screening = services.run_screening(
            actor=actor(staff["nurse"]),
            patient=patient,
            protocol="ketamine-iv-mood",
            overrides={"history": ["pregnant"]},
        )
        assert screening.result == "needs_review"
        client = login(staff["physician"])
        page = client.get(reverse("screening_result", args=[screening.pk])).content.decode()
        assert 'value="accept"' in page and 'value="decline"' in page
        assert 'value="override"' not in page
        refused = client.post(
            reverse("screening_decide", args=[screening.pk]),
            {"decision": "override", "reason": "x"},
        )
        assert refused.status_code == 422
        assert Screening.objects.get().decision == ""

    def test_declining_an_eligible_result_asks_for_the_reason_by_its_field(
        self, login, staff, patient
    ):
        from tests.screening.test_api import FULL_INTAKE

        services.save_intake(actor=actor(staff["nurse"]), patient=patient, data=FULL_INTAKE)
        screening = services.run_screening(
            actor=actor(staff["nurse"]), patient=patient, protocol="ketamine-iv-mood"
        )
        assert screening.result == "eligible"
        client = login(staff["physician"])
        refused = client.post(
            reverse("screening_decide", args=[screening.pk]), {"decision": "decline", "reason": ""}
        )
        html = refused.content.decode()
        assert refused.status_code == 422
        reason_field = html[html.index('name="reason"') :]
        assert reason_field.index("Declining an eligible result needs a written reason.") < 400
        assert Screening.objects.get().decision == ""

    def test_a_nurse_cannot_post_a_decision(self, login, staff, ineligible):
        response = login(staff["nurse"]).post(
            reverse("screening_decide", args=[ineligible.pk]), {"decision": "decline"}
        )
        assert response.status_code == 403
        assert Screening.objects.get().decision == ""

    def test_another_clinic_cannot_see_it(self, login, outsider, ineligible):
        assert (
            login(outsider).get(reverse("screening_result", args=[ineligible.pk])).status_code
            == 404
        )


class TestConsultationNote:
    def test_a_physician_signs_and_amends(self, login, staff, patient, ineligible):
        client = login(staff["physician"])
        url = reverse("screening_consultation", args=[patient.pk])
        client.post(
            reverse("screening_consultation_sign", args=[patient.pk]),
            {"text": "Discussed risks.", "screening": str(ineligible.pk)},
        )
        note = ConsultationNote.objects.get()
        assert (note.screening, note.signed_by_name, note.text) == (
            ineligible,
            "Lena Chen",
            "Discussed risks.",
        )
        client.post(
            reverse("screening_note_amend", args=[note.pk]),
            {"text": "Add: BP recheck.", "reason": "Omitted"},
        )
        note.refresh_from_db()
        assert note.text == "Discussed risks."
        assert NoteAmendment.objects.get().reason == "Omitted"
        html = client.get(url).content.decode()
        assert "Discussed risks." in html and "Add: BP recheck." in html

    def test_a_nurse_cannot_sign_a_note(self, login, staff, patient):
        response = login(staff["nurse"]).post(
            reverse("screening_consultation_sign", args=[patient.pk]), {"text": "x"}
        )
        assert response.status_code == 403
        assert ConsultationNote.objects.count() == 0


def risk_post(family, name="Maria Garcia"):
    return {"signed_name": name, **{f"risk_{r.id}": "on" for r in load_templates()[family].risks}}


class TestConsentPages:
    def test_the_tablet_flow_records_the_witness_and_the_pdf(self, login, staff, patient):
        client = login(staff["nurse"])
        page = client.get(reverse("screening_consent_sign", args=[patient.pk, "ketamine-iv-mood"]))
        assert "off-label" in page.content.decode() and "Harbor Light" in page.content.decode()
        response = client.post(
            reverse("screening_consent_sign", args=[patient.pk, "ketamine-iv-mood"]),
            risk_post("ketamine-iv-mood", "  maria garcia "),
            REMOTE_ADDR="10.1.2.3",
        )
        consent = Consent.objects.get()
        assert response.status_code == 302
        assert (consent.signed_name, consent.witness_name, consent.ip, consent.via) == (
            "maria garcia",
            "Grace Okafor",
            "10.1.2.3",
            "tablet",
        )
        assert bytes(consent.pdf).startswith(b"%PDF")
        pdf = client.get(reverse("screening_consent_pdf", args=[consent.pk]))
        assert pdf["Content-Type"] == "application/pdf"
        assert pdf.content == bytes(consent.pdf)
        assert AuditEvent.objects.filter(action="download").count() == 1

    def test_an_unticked_risk_blocks_signing(self, login, staff, patient):
        post = risk_post("ketamine-iv-mood")
        del post["risk_misuse"]
        response = login(staff["nurse"]).post(
            reverse("screening_consent_sign", args=[patient.pk, "ketamine-iv-mood"]), post
        )
        assert "Tick this to confirm you understand it." in response.content.decode()
        assert Consent.objects.count() == 0

    def test_a_wrong_name_blocks_signing(self, login, staff, patient):
        response = login(staff["nurse"]).post(
            reverse("screening_consent_sign", args=[patient.pk, "ketamine-iv-mood"]),
            risk_post("ketamine-iv-mood", "Someone Else"),
        )
        assert "full name exactly as registered." in response.content.decode()
        assert Consent.objects.count() == 0

    def test_the_header_shows_no_valid_withdrawn_and_expired(self, login, staff, patient):
        client = login(staff["nurse"])
        chart = reverse("patient_chart", args=[patient.pk])
        assert "⚠ No consent" in client.get(chart).content.decode()
        consent = services.sign_consent(
            actor=actor(staff["nurse"]),
            patient=patient,
            template_key="ketamine-iv-mood",
            signed_name="Maria Garcia",
            acknowledgements=[r.id for r in load_templates()["ketamine-iv-mood"].risks],
        )
        assert (
            f"✓ Consent: IV ketamine (mood), valid to {consent.expires_on:%Y-%m-%d}"
            in client.get(chart).content.decode()
        )
        Consent.objects.filter(pk=consent.pk).update(expires_on=patient.clinic.today())
        assert "⚠ Consent expired: IV ketamine (mood)" in client.get(chart).content.decode()
        client.post(
            reverse("screening_consent_withdraw", args=[consent.pk]), {"reason": "Changed mind"}
        )
        html = client.get(chart).content.decode()
        assert "⚠ Consent withdrawn: IV ketamine (mood)" in html

    def test_a_consent_is_withdrawn_without_a_reason(self, login, staff, patient):
        consent = services.sign_consent(
            actor=actor(staff["nurse"]),
            patient=patient,
            template_key="ketamine-iv-mood",
            signed_name="Maria Garcia",
            acknowledgements=[r.id for r in load_templates()["ketamine-iv-mood"].risks],
        )
        client = login(staff["nurse"])
        response = client.post(
            reverse("screening_consent_withdraw", args=[consent.pk]), {"reason": ""}
        )
        assert response.status_code == 302
        consent.refresh_from_db()
        assert (consent.withdrawn_reason, consent.withdrawn_by_name) == ("", "Grace Okafor")
        html = client.get(reverse("screening_consent", args=[consent.pk])).content.decode()
        assert "recorded by Grace Okafor — no reason given" in html
        assert "⚠ Withdrawn" in html

    def test_the_consent_link_signs_without_a_witness_once(self, login, client, staff, patient):
        _, token = services.create_consent_link(
            actor=actor(staff["nurse"]), patient=patient, template_key="esketamine-nasal"
        )
        url = reverse("screening_public_consent", args=[token])
        page = client.get(url).content.decode()
        assert "REMS" in page and "Harbor Light" in page and "Garcia" not in page
        client.post(url, risk_post("esketamine-nasal"), REMOTE_ADDR="203.0.113.9")
        consent = Consent.objects.get()
        assert (consent.via, consent.witness_name, consent.ip, consent.rems_enrollment) == (
            "link",
            "",
            "203.0.113.9",
            True,
        )
        assert client.get(url).status_code == 410
        doctor = login(staff["physician"])
        doctor.post(reverse("screening_consent_cosign", args=[consent.pk]))
        consent.refresh_from_db()
        assert consent.prescriber_name == "Lena Chen"

    def test_an_expired_rems_enrollment_cannot_be_co_signed(self, login, staff, patient):
        consent = services.sign_consent(
            actor=actor(staff["nurse"]),
            patient=patient,
            template_key="esketamine-nasal",
            signed_name="Maria Garcia",
            acknowledgements=[r.id for r in load_templates()["esketamine-nasal"].risks],
        )
        today = patient.clinic.today()
        Consent.objects.filter(pk=consent.pk).update(
            signed_on=today - timedelta(days=400), expires_on=today
        )
        doctor = login(staff["physician"])
        page = doctor.get(reverse("screening_consent", args=[consent.pk])).content.decode()
        assert "Sign REMS enrollment as prescriber" not in page
        response = doctor.post(reverse("screening_consent_cosign", args=[consent.pk]), follow=True)
        assert "This consent has expired; the patient must sign a new one." in (
            response.content.decode()
        )
        consent.refresh_from_db()
        assert (consent.prescriber_name, consent.prescriber_signed_at) == ("", None)


class TestChartSection:
    def test_the_chart_costs_the_same_queries_with_more_history(self, login, staff, patient):
        client = login(staff["physician"])
        url = reverse("patient_chart", args=[patient.pk])
        nurse = actor(staff["nurse"])
        risks = [r.id for r in load_templates()["ketamine-iv-mood"].risks]

        def add_history():
            services.save_intake(actor=nurse, patient=patient, data={"diagnoses": ["mdd"]})
            for family in ("ketamine-iv-mood", "esketamine-nasal"):
                services.run_screening(actor=nurse, patient=patient, protocol=family, overrides={})
            services.sign_consent(
                actor=nurse,
                patient=patient,
                template_key="ketamine-iv-mood",
                signed_name="Maria Garcia",
                acknowledgements=risks,
            )

        add_history()
        client.get(url)
        with CaptureQueriesContext(connection) as first:
            client.get(url)
        for _ in range(3):
            add_history()
        with CaptureQueriesContext(connection) as second:
            html = client.get(url).content.decode()
        assert len(second) == len(first)
        assert "Intake" in html and "Version 4" in html and "Esketamine nasal spray" in html

    def test_front_desk_does_not_see_the_section(self, login, staff, patient):
        html = (
            login(staff["front_desk"])
            .get(reverse("patient_chart", args=[patient.pk]))
            .content.decode()
        )
        assert "Consultation and eligibility" not in html


class TestConsentLinkExpiry:
    def test_an_expired_consent_link_signs_nothing(self, client, staff, patient):
        from ketaclinic.screening.models import ConsentLink

        link, token = services.create_consent_link(
            actor=actor(staff["nurse"]), patient=patient, template_key="ketamine-iv-mood"
        )
        ConsentLink.objects.filter(pk=link.pk).update(expires_at=timezone.now())
        url = reverse("screening_public_consent", args=[token])
        response = client.post(url, risk_post("ketamine-iv-mood"))
        assert response.status_code == 410
        assert "expired" in response.content.decode()
        assert Consent.objects.count() == 0


class TestFactsFor:
    def test_age_is_computed_on_the_evaluation_day(self, patient):
        assert services.facts_for(patient, on=date(2026, 3, 6)).age == 41
        assert services.facts_for(patient, on=date(2026, 3, 7)).age == 42

    def test_a_later_cssrs_screen_sets_the_suicide_risk(self, staff, patient, clinic):
        from django.apps import apps

        if not apps.is_installed("ketaclinic.measures"):
            pytest.skip("measures app not installed")
        response_model = apps.get_model("measures", "Response")
        services.save_intake(
            actor=actor(staff["nurse"]), patient=patient, data={"suicide_risk": "low"}
        )
        assert services.facts_for(patient).suicide_risk == "low"
        response_model.objects.create(
            clinic=clinic,
            patient=patient,
            instrument="cssrs_screen",
            version=1,
            answers=[],
            severity="moderate",
            taken_at=timezone.now() + timedelta(seconds=1),
        )
        assert services.facts_for(patient).suicide_risk == "moderate"

    def test_diagnoses_are_offered_from_the_chart_until_answered(
        self, login, staff, patient, clinic
    ):
        from ketaclinic.patients.models import Condition

        Condition.objects.create(clinic=clinic, patient=patient, code="ptsd")
        response = login(staff["nurse"]).get(reverse("screening_intake", args=[patient.pk]))
        assert response.context["form"].initial["diagnoses"] == ["ptsd"]
        assert response.context["form"].initial["diagnoses_asked"] is False
