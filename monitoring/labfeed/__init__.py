"""The lab feed: results in from files, the API and HL7 v2 over MLLP, and the exceptions queue.

- `importers`: CSV, FHIR R4 and HL7 v2 parsers, validation, duplicates, one batch per file;
- `exceptions_queue`: bad units kept for review, fixed, dismissed or re-tried;
- `mllp`: the MLLP listener (an entry point, started by `manage.py mllp_listener`).
"""
