"""Demo data for this capability, called by seed_demo (idempotent)."""


def seed(clinic, patients) -> None:
    """Extend the demo clinic; `patients` are the clinic's demo patients by MRN order."""
