"""The regimen catalogue NeutroWatch ships with.

FN-risk categories follow the NCCN Hematopoietic Growth Factors guideline's examples of
high (> 20 %) and intermediate (10-20 %) risk regimens and the EORTC 2010 G-CSF guideline
(Aapro et al., Eur J Cancer 2011;47:8-32); G-CSF recommendation follows ASCO 2015
(Smith et al., J Clin Oncol 2015;33:3199). Where sources differ we record the more
cautious category and say so. Nadir windows are typical days of the cycle from the
product labels and the regimen literature; next-cycle ANC from the labels and protocols
(1.5 x10^9/L unless stated). Confirm against the current NCCN list before clinical use.
"""
from django.db import migrations

NCCN = "NCCN Hematopoietic Growth Factors; EORTC 2010 (Aapro, Eur J Cancer 2011;47:8)"

REGIMENS = [
    dict(code="TAC-Q3W", name="TAC q3w (docetaxel 75, doxorubicin 50, cyclophosphamide 500 mg/m2)",
         drugs="docetaxel, doxorubicin, cyclophosphamide", cycle_length_days=21, chemo_days=[1],
         fn_risk="high", gcsf_recommendation="primary", nadir=(7, 12), source=NCCN + "; BCIRG 001 (FN 24 % without G-CSF)"),
    dict(code="DDAC-Q2W", name="Dose-dense AC q2w (doxorubicin 60, cyclophosphamide 600 mg/m2) -> paclitaxel",
         drugs="doxorubicin, cyclophosphamide, then paclitaxel", cycle_length_days=14, chemo_days=[1],
         fn_risk="high", gcsf_recommendation="primary", nadir=(7, 11),
         source=NCCN + "; CALGB 9741 (dose-dense schedule requires G-CSF support)"),
    dict(code="AC-Q3W", name="AC q3w (doxorubicin 60, cyclophosphamide 600 mg/m2)",
         drugs="doxorubicin, cyclophosphamide", cycle_length_days=21, chemo_days=[1],
         fn_risk="intermediate", gcsf_recommendation="consider", nadir=(10, 14), source=NCCN),
    dict(code="DOCETAXEL-75-Q3W", name="Docetaxel 75 mg/m2 q3w", drugs="docetaxel", cycle_length_days=21,
         chemo_days=[1], fn_risk="intermediate", gcsf_recommendation="consider", nadir=(7, 10),
         source=NCCN + "; docetaxel label (median nadir day 7; do not give below 1500 cells/mm3)"),
    dict(code="DOCETAXEL-100-Q3W", name="Docetaxel 100 mg/m2 q3w", drugs="docetaxel", cycle_length_days=21,
         chemo_days=[1], fn_risk="high", gcsf_recommendation="primary", nadir=(7, 10),
         source=NCCN + "; docetaxel label"),
    dict(code="TC-Q3W", name="TC q3w (docetaxel 75, cyclophosphamide 600 mg/m2)",
         drugs="docetaxel, cyclophosphamide", cycle_length_days=21, chemo_days=[1],
         fn_risk="intermediate", gcsf_recommendation="consider", nadir=(7, 11),
         source=NCCN + " (intermediate; observed FN rates in practice often > 20 %)"),
    dict(code="PACLITAXEL-WEEKLY", name="Paclitaxel 80 mg/m2 weekly", drugs="paclitaxel", cycle_length_days=7,
         chemo_days=[1], fn_risk="low", gcsf_recommendation="not_routine", nadir=(5, 7), next_anc="1.0",
         source=NCCN + "; weekly paclitaxel protocols hold for ANC < 1.0 x10^9/L"),
    dict(code="CARBO-PACLI-Q3W", name="Carboplatin AUC 6 / paclitaxel 175 mg/m2 q3w",
         drugs="carboplatin, paclitaxel", cycle_length_days=21, chemo_days=[1],
         fn_risk="intermediate", gcsf_recommendation="consider", nadir=(10, 16), source=NCCN),
    dict(code="GEM-CARBO-D1D8", name="Gemcitabine 1000 mg/m2 d1,d8 / carboplatin AUC 5 d1 q3w",
         drugs="gemcitabine, carboplatin", cycle_length_days=21, chemo_days=[1, 8],
         fn_risk="intermediate", gcsf_recommendation="consider", nadir=(12, 18),
         source=NCCN + "; gemcitabine label (day 8 nadir is later than single-day regimens)"),
    dict(code="FOLFOX-Q2W", name="FOLFOX q2w (oxaliplatin, leucovorin, 5-FU)",
         drugs="oxaliplatin, leucovorin, fluorouracil", cycle_length_days=14, chemo_days=[1],
         fn_risk="intermediate", gcsf_recommendation="consider", nadir=(7, 12),
         source=NCCN + " (sources differ between low and intermediate; the more cautious is recorded)"),
    dict(code="FOLFIRINOX-Q2W", name="FOLFIRINOX q2w (oxaliplatin, irinotecan, leucovorin, 5-FU)",
         drugs="oxaliplatin, irinotecan, leucovorin, fluorouracil", cycle_length_days=14, chemo_days=[1],
         fn_risk="high", gcsf_recommendation="primary", nadir=(7, 12), source=NCCN + "; PRODIGE 4/ACCORD 11"),
    dict(code="R-CHOP-21", name="R-CHOP-21 (rituximab, cyclophosphamide, doxorubicin, vincristine, prednisone)",
         drugs="rituximab, cyclophosphamide, doxorubicin, vincristine, prednisone", cycle_length_days=21,
         chemo_days=[1], fn_risk="intermediate", gcsf_recommendation="consider", nadir=(8, 14), source=NCCN),
    dict(code="CHOP-14", name="CHOP-14 +/- rituximab (with G-CSF)",
         drugs="cyclophosphamide, doxorubicin, vincristine, prednisone (+/- rituximab)", cycle_length_days=14,
         chemo_days=[1], fn_risk="high", gcsf_recommendation="primary", nadir=(7, 11),
         source=NCCN + "; NHL-B1 (14-day schedule requires G-CSF)"),
    dict(code="ABVD", name="ABVD (doxorubicin, bleomycin, vinblastine, dacarbazine) d1,d15 q4w",
         drugs="doxorubicin, bleomycin, vinblastine, dacarbazine", cycle_length_days=28, chemo_days=[1, 15],
         fn_risk="low", gcsf_recommendation="not_routine", nadir=(7, 12), next_anc="1.0",
         source=NCCN + "; Evens et al. Br J Haematol 2007 (many centres give ABVD on schedule regardless "
         "of ANC, without routine G-CSF; 1.0 x10^9/L here flags a count for the team's attention, "
         "it is not a hold rule)"),
]


def load(apps, schema_editor):
    Regimen = apps.get_model("monitoring", "Regimen")
    for entry in REGIMENS:
        entry = dict(entry)
        start, end = entry.pop("nadir")
        next_anc = entry.pop("next_anc", "1.5")
        Regimen.objects.update_or_create(
            code=entry.pop("code"),
            defaults=dict(entry, nadir_window_start_day=start, nadir_window_end_day=end,
                          next_cycle_anc_1e9_per_l=next_anc),
        )


def unload(apps, schema_editor):
    apps.get_model("monitoring", "Regimen").objects.filter(code__in=[r["code"] for r in REGIMENS]).delete()


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0001_initial")]
    operations = [migrations.RunPython(load, unload)]
