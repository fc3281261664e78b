"""FHIR R4 API and Bulk Data export (docs/fhir.md)."""
