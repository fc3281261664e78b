"""The course gate scheduling calls: eligibility accepted, consent valid, REMS enrollment."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ketaclinic.screening.gates import eligibility_status, missing_for_course

ON = date(2026, 12, 1)
ACCEPT = "An eligibility evaluation for IV ketamine (mood) accepted by a physician."
CONSENT = "A signed consent for IV ketamine (mood)."
REMS = "The REMS patient enrollment signed by the patient and the prescriber."
AWAITING = (
    "An eligibility evaluation for IV ketamine (mood) accepted by a physician "
    "(the latest evaluation awaits a physician decision)."
)


@pytest.mark.django_db
class TestMissingForCourse:
    def test_it_lists_everything_for_a_new_patient(self, patient):
        assert missing_for_course(patient=patient, family="ketamine-iv-mood", on=ON) == [
            ACCEPT,
            CONSENT,
        ]

    def test_it_asks_esketamine_for_rems_enrollment_too(self, patient):
        assert missing_for_course(patient=patient, family="esketamine-nasal", on=ON) == [
            "An eligibility evaluation for Esketamine nasal spray accepted by a physician.",
            "A signed consent for Esketamine nasal spray.",
            REMS,
        ]

    def test_it_is_empty_with_an_accepted_screening_and_a_valid_consent(
        self, patient, make_screening, make_consent
    ):
        make_screening(patient, decision="accept")
        make_consent(patient)
        assert missing_for_course(patient=patient, family="ketamine-iv-mood", on=ON) == []

    def test_an_override_counts_as_accepted(self, patient, make_screening, make_consent):
        make_screening(
            patient, result="ineligible", decision="override", reason="Benefit outweighs risk"
        )
        make_consent(patient)
        assert missing_for_course(patient=patient, family="ketamine-iv-mood", on=ON) == []

    def test_an_undecided_screening_is_not_enough(self, patient, make_screening, make_consent):
        make_screening(patient, result="eligible")
        make_consent(patient)
        assert missing_for_course(patient=patient, family="ketamine-iv-mood", on=ON) == [AWAITING]

    def test_a_newer_undecided_screening_blocks_an_older_acceptance(
        self, patient, make_screening, make_consent
    ):
        make_screening(patient, result="eligible", decision="accept")
        make_consent(patient)
        assert missing_for_course(patient=patient, family="ketamine-iv-mood", on=ON) == []
        # A new intake, a new evaluation: ineligible and not yet seen by a physician.
        make_screening(patient, result="ineligible")
        assert missing_for_course(patient=patient, family="ketamine-iv-mood", on=ON) == [AWAITING]

    def test_an_override_is_reported_as_accepted_override(self, patient, make_screening):
        make_screening(patient, result="ineligible", decision="override", reason="Benefit")
        status = eligibility_status(patient=patient, family="ketamine-iv-mood")
        assert (status.label, status.missing) == ("accepted (override)", None)
        make_screening(patient, result="eligible")
        status = eligibility_status(patient=patient, family="ketamine-iv-mood")
        assert (status.label, status.missing) == ("awaiting a physician decision", AWAITING)

    def test_a_later_decline_supersedes_an_acceptance(self, patient, make_screening, make_consent):
        now = timezone.now()
        make_screening(patient, decision="accept", decided_at=now - timedelta(days=2))
        make_screening(patient, decision="decline", decided_at=now)
        make_consent(patient)
        assert missing_for_course(patient=patient, family="ketamine-iv-mood", on=ON) == [
            "An eligibility evaluation for IV ketamine (mood) accepted by a physician "
            "(the latest was declined).",
        ]

    def test_a_screening_for_another_family_does_not_count(
        self, patient, make_screening, make_consent
    ):
        make_screening(patient, protocol="ketamine-im-mood", decision="accept")
        make_consent(patient, family="ketamine-im-mood")
        assert missing_for_course(patient=patient, family="ketamine-iv-mood", on=ON) == [
            ACCEPT,
            CONSENT,
        ]

    def test_an_expired_consent_is_missing(self, patient, make_screening, make_consent):
        make_screening(patient, decision="accept")
        make_consent(patient, signed_on=date(2025, 11, 1), expires_on=date(2026, 11, 1))
        assert missing_for_course(patient=patient, family="ketamine-iv-mood", on=ON) == [
            "A signed consent for IV ketamine (mood) (the latest expired on 2026-11-01).",
        ]

    def test_a_consent_is_valid_the_day_before_expiry_not_on_it(
        self, patient, make_screening, make_consent
    ):
        make_screening(patient, decision="accept")
        make_consent(patient, signed_on=date(2025, 12, 1), expires_on=date(2026, 12, 1))
        assert (
            missing_for_course(patient=patient, family="ketamine-iv-mood", on=date(2026, 11, 30))
            == []
        )
        assert len(missing_for_course(patient=patient, family="ketamine-iv-mood", on=ON)) == 1

    def test_a_withdrawn_consent_is_missing(self, patient, make_screening, make_consent):
        make_screening(patient, decision="accept")
        make_consent(patient, withdrawn=True)
        assert missing_for_course(patient=patient, family="ketamine-iv-mood", on=ON) == [
            "A signed consent for IV ketamine (mood) (the latest was withdrawn).",
        ]

    def test_a_consent_signed_after_the_start_day_does_not_count(
        self, patient, make_screening, make_consent
    ):
        make_screening(patient, decision="accept")
        make_consent(patient, signed_on=date(2026, 12, 5))
        assert missing_for_course(patient=patient, family="ketamine-iv-mood", on=ON) == [
            "A signed consent for IV ketamine (mood) dated on or before 2026-12-01.",
        ]

    def test_esketamine_needs_the_prescriber_co_signature(
        self, patient, make_screening, make_consent
    ):
        make_screening(patient, protocol="esketamine-nasal", decision="accept")
        make_consent(patient, family="esketamine-nasal", rems=True)
        assert missing_for_course(patient=patient, family="esketamine-nasal", on=ON) == [
            "The REMS patient enrollment co-signed by the prescriber.",
        ]

    def test_esketamine_is_complete_with_both_rems_signatures(
        self, patient, make_screening, make_consent
    ):
        make_screening(patient, protocol="esketamine-nasal", decision="accept")
        make_consent(patient, family="esketamine-nasal", rems=True, cosigned=True)
        with CaptureQueriesContext(connection) as queries:
            assert missing_for_course(patient=patient, family="esketamine-nasal", on=ON) == []
        assert len(queries) == 2

    def test_another_patients_records_do_not_count(
        self, patient, clinic, make_screening, make_consent
    ):
        from ketaclinic.patients.models import Patient

        other = Patient.objects.create(
            clinic=clinic,
            mrn="MRN000002",
            given_name="Ben",
            family_name="Ode",
            birth_date=date(1970, 1, 1),
            sex_at_birth="male",
        )
        make_screening(other, decision="accept")
        make_consent(other)
        assert missing_for_course(patient=patient, family="ketamine-iv-mood", on=ON) == [
            ACCEPT,
            CONSENT,
        ]

    def test_it_refuses_an_unknown_family(self, patient):
        with pytest.raises(ValueError, match="unknown protocol family"):
            missing_for_course(patient=patient, family="ketamine-oral", on=ON)
