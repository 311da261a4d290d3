"""What-if, applied (issue 23): a cycle's planned dose and G-CSF, and the regimens' label dose steps.

Label dose-reduction steps for the whole regimen, where the product label defines one:

- Docetaxel monotherapy: the docetaxel SmPC (Taxotere, EMA, section 4.2) reduces the dose after
  febrile neutropenia, neutrophils < 500 cells/mm3 for more than a week, severe or cumulative skin
  reactions or severe neuropathy "from 100 mg/m2 to 75 mg/m2 and/or from 75 to 60 mg/m2" (and stops
  at 60); the US label says the same for 100 -> 75. So DOCETAXEL-100-Q3W: 75 mg/m2 (75 %);
  DOCETAXEL-75-Q3W: 60 mg/m2 (80 %).

Not given a step, on purpose: TAC and TC (the label's step reduces docetaxel alone, 75 -> 60 mg/m2,
with doxorubicin and cyclophosphamide unchanged; the forecasting model has one drug effect per
regimen and cannot tell a one-drug reduction from a whole-regimen one, so their what-if row stays
"Dose at 80 %" of the whole regimen); AC, FOLFOX, gemcitabine/carboplatin and the others (their
labels give per-drug or count-dependent modifications, not one step for the regimen).
"""
from decimal import Decimal

import django.core.validators
from django.db import migrations, models

DOCETAXEL_SMPC = ("Docetaxel SmPC (Taxotere, EMA), section 4.2: after febrile neutropenia, neutrophils < 500 "
                  "cells/mm3 for more than one week, severe or cumulative cutaneous reactions or severe peripheral "
                  "neuropathy, reduce from 100 to 75 mg/m2 and/or from 75 to 60 mg/m2")
LABEL_STEPS = {
    "DOCETAXEL-100-Q3W": ("0.75", "75 mg/m²", DOCETAXEL_SMPC),
    "DOCETAXEL-75-Q3W": ("0.80", "60 mg/m²", DOCETAXEL_SMPC),
}


def label_steps(apps, schema_editor):
    Regimen = apps.get_model("monitoring", "Regimen")
    for code, (fraction, dose, source) in LABEL_STEPS.items():
        Regimen.objects.filter(code=code).update(label_dose_step=Decimal(fraction), label_dose_step_dose=dose,
                                                 label_dose_step_source=source)


class Migration(migrations.Migration):

    dependencies = [
        ('monitoring', '0024_registration_requests_held_temperature'),
    ]

    operations = [
        migrations.AddField(
            model_name='cycle',
            name='planned_dose_fraction',
            field=models.DecimalField(decimal_places=2, default=Decimal('1.00'), max_digits=3, validators=[django.core.validators.MinValueValidator(Decimal('0.05')), django.core.validators.MaxValueValidator(Decimal('1.50'))], verbose_name='planned dose (fraction of full dose)'),
        ),
        migrations.AddField(
            model_name='cycle',
            name='planned_gcsf',
            field=models.CharField(blank=True, choices=[('', 'None planned'), ('peg', 'Pegfilgrastim day 2 (or on-body injector on day 1)'), ('filgrastim', 'Filgrastim days 3-10')], default='', max_length=20, verbose_name='planned G-CSF'),
        ),
        migrations.AddField(
            model_name='historicalcycle',
            name='planned_dose_fraction',
            field=models.DecimalField(decimal_places=2, default=Decimal('1.00'), max_digits=3, validators=[django.core.validators.MinValueValidator(Decimal('0.05')), django.core.validators.MaxValueValidator(Decimal('1.50'))], verbose_name='planned dose (fraction of full dose)'),
        ),
        migrations.AddField(
            model_name='historicalcycle',
            name='planned_gcsf',
            field=models.CharField(blank=True, choices=[('', 'None planned'), ('peg', 'Pegfilgrastim day 2 (or on-body injector on day 1)'), ('filgrastim', 'Filgrastim days 3-10')], default='', max_length=20, verbose_name='planned G-CSF'),
        ),
        migrations.AddField(
            model_name='historicalregimen',
            name='label_dose_step',
            field=models.DecimalField(blank=True, decimal_places=2, help_text='E.g. 0.80 for docetaxel 75 -> 60 mg/m2; empty where the label gives no step for the regimen.', max_digits=3, null=True, validators=[django.core.validators.MinValueValidator(Decimal('0.05')), django.core.validators.MaxValueValidator(Decimal('0.99'))], verbose_name='label dose step (fraction of full dose)'),
        ),
        migrations.AddField(
            model_name='historicalregimen',
            name='label_dose_step_dose',
            field=models.CharField(blank=True, help_text='The reduced dose in words, e.g. "60 mg/m²".', max_length=60, verbose_name='label step dose'),
        ),
        migrations.AddField(
            model_name='historicalregimen',
            name='label_dose_step_source',
            field=models.TextField(blank=True, verbose_name='label step source'),
        ),
        migrations.AddField(
            model_name='regimen',
            name='label_dose_step',
            field=models.DecimalField(blank=True, decimal_places=2, help_text='E.g. 0.80 for docetaxel 75 -> 60 mg/m2; empty where the label gives no step for the regimen.', max_digits=3, null=True, validators=[django.core.validators.MinValueValidator(Decimal('0.05')), django.core.validators.MaxValueValidator(Decimal('0.99'))], verbose_name='label dose step (fraction of full dose)'),
        ),
        migrations.AddField(
            model_name='regimen',
            name='label_dose_step_dose',
            field=models.CharField(blank=True, help_text='The reduced dose in words, e.g. "60 mg/m²".', max_length=60, verbose_name='label step dose'),
        ),
        migrations.AddField(
            model_name='regimen',
            name='label_dose_step_source',
            field=models.TextField(blank=True, verbose_name='label step source'),
        ),
        migrations.RunPython(label_steps, migrations.RunPython.noop),
    ]
