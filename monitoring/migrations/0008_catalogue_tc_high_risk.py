"""Catalogue corrections (issue 11).

TC (docetaxel 75 + cyclophosphamide 600 mg/m2 q3w) is a HIGH FN-risk regimen: the NCCN
Hematopoietic Growth Factors guideline lists docetaxel + cyclophosphamide among the regimens
with FN risk > 20 % (Jones S et al., J Clin Oncol 2006;24:5381; observed FN 23-46 % without
G-CSF in practice), so G-CSF primary prophylaxis is recommended (ASCO 2015).
"""
from django.db import migrations

TC_SOURCE = ("NCCN Hematopoietic Growth Factors (docetaxel + cyclophosphamide listed as high risk, > 20 %); "
             "EORTC 2010 (Aapro, Eur J Cancer 2011;47:8); Jones S et al., J Clin Oncol 2006;24:5381")
TC_BEFORE = dict(fn_risk="intermediate", gcsf_recommendation="consider",
                 source="NCCN Hematopoietic Growth Factors; EORTC 2010 (Aapro, Eur J Cancer 2011;47:8) "
                        "(intermediate; observed FN rates in practice often > 20 %)")


def tc_high_risk(apps, schema_editor):
    apps.get_model("monitoring", "Regimen").objects.filter(code="TC-Q3W").update(
        fn_risk="high", gcsf_recommendation="primary", source=TC_SOURCE)


def tc_back(apps, schema_editor):
    apps.get_model("monitoring", "Regimen").objects.filter(code="TC-Q3W").update(**TC_BEFORE)


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0007_safety_net")]
    operations = [migrations.RunPython(tc_high_risk, tc_back)]
