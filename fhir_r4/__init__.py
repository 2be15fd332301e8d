"""FHIR R4: the practice's records as resources other health software reads (docs/fhir.md)."""
