"""The patient portal: the patient's own door (appointments, check-in, questionnaires, progress, journal, messages, documents)."""
