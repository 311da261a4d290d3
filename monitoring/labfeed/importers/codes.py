"""The code and unit tables importers map lab messages with: LOINC, UCUM, G-CSF dose units, routes.

Pure data and lookups: no Django, no database. Sources: LOINC 2.77 (loinc.org), UCUM, and
/work/shared/CLINICAL.md "Interoperability codes".
"""

from __future__ import annotations

from monitoring import clinical

# What a LOINC code measures, in NeutroWatch's words.
ANC = "anc"
WBC = "wbc"
NEUTROPHIL_PCT = "neutrophil_pct"
BAND_PCT = "band_pct"
TEMPERATURE = "temperature"
PLATELETS = "platelets"

LOINC_ROLES: dict[str, str] = {
    "751-8": ANC,  # Neutrophils [#/volume] in Blood by Automated count
    "26499-4": ANC,  # Neutrophils [#/volume] in Blood
    "753-4": ANC,  # Neutrophils [#/volume] in Blood by Manual count
    "6690-2": WBC,  # Leukocytes [#/volume] in Blood by Automated count
    "26464-8": WBC,  # Leukocytes [#/volume] in Blood
    "804-5": WBC,  # Leukocytes [#/volume] in Blood by Manual count
    "770-8": NEUTROPHIL_PCT,  # Neutrophils/100 leukocytes in Blood by Automated count
    "26511-6": NEUTROPHIL_PCT,  # Neutrophils/100 leukocytes in Blood
    "764-1": BAND_PCT,  # Band form neutrophils/100 leukocytes in Blood by Manual count
    "26508-2": BAND_PCT,  # Band form neutrophils/100 leukocytes in Blood
    "777-3": PLATELETS,  # Platelets [#/volume] in Blood by Automated count
    "26515-7": PLATELETS,  # Platelets [#/volume] in Blood
    "8310-5": TEMPERATURE,  # Body temperature
}
COUNT_ROLES = (ANC, WBC)
PERCENT_ROLES = (NEUTROPHIL_PCT, BAND_PCT)

LOINC_SYSTEM = "http://loinc.org"
UCUM_SYSTEM = "http://unitsofmeasure.org"
ATC_SYSTEM = "http://www.whocc.no/atc"

PERCENT_UNITS = {"%", "percent", "pct", "{percent}"}

GCSF_DOSE_UNITS = {"ug": "ug", "mcg": "ug", "µg": "ug", "μg": "ug", "microgram": "ug", "micrograms": "ug", "mg": "mg"}

# SNOMED CT route codes (34206005 subcutaneous, 47625008 intravenous) and plain words.
ROUTES = {
    "sc": "SC", "s.c.": "SC", "sq": "SC", "subcut": "SC", "subcutaneous": "SC", "34206005": "SC",
    "iv": "IV", "i.v.": "IV", "intravenous": "IV", "47625008": "IV",
    "obi": "OBI", "on-body injector": "OBI", "on body injector": "OBI",
}


def loinc_role(code: str) -> str | None:
    """Return what a LOINC code measures (anc, wbc, ...), or None for codes NeutroWatch ignores."""
    return LOINC_ROLES.get((code or "").strip())


def check_percent_unit(unit: str) -> None:
    """Raise unless `unit` is a percentage (a differential must not arrive as an absolute count)."""
    if (unit or "").strip().lower() not in PERCENT_UNITS:
        raise clinical.ClinicalValueError(f"unit {unit!r} is not a percentage (%)")


def gcsf_dose_unit(unit: str) -> str:
    """Return 'ug' or 'mg' for a G-CSF dose unit, or raise."""
    canonical = GCSF_DOSE_UNITS.get((unit or "").strip().lower())
    if canonical is None:
        raise clinical.ClinicalValueError(f"unknown dose unit {unit!r}: use ug (mcg) or mg")
    return canonical


def route(text: str) -> str:
    """Return SC, IV or OBI for a route word or SNOMED code; blank means subcutaneous."""
    key = (text or "").strip().lower()
    if not key:
        return "SC"
    if key not in ROUTES:
        raise clinical.ClinicalValueError(f"unknown route {text!r}: use SC, IV or OBI")
    return ROUTES[key]
