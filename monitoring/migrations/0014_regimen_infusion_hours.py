"""How long a regimen's chemotherapy runs after its recorded time: the G-CSF windows "after
chemotherapy" count from the end of the last continuous infusion (monitoring.clinical.chemo_end).

In the shipped catalogue only the two 5-FU regimens have one: FOLFOX q2w (as mFOLFOX6) and
FOLFIRINOX end with fluorouracil 2400 mg/m2 as a continuous infusion over 46 h from an ambulatory
pump, started after the day-1 bolus (de Gramont / FOLFOX6 schedule: Tournigand et al., J Clin Oncol
2004;22:229; FOLFIRINOX: Conroy et al., N Engl J Med 2011;364:1817, PRODIGE 4/ACCORD 11). FOLFOX4's
two 22-h infusions on days 1 and 2 end at about the same time. The other catalogue regimens
(taxanes, anthracyclines, platinum, gemcitabine, CHOP, ABVD) are short infusions or boluses: 0.
"""
from django.db import migrations, models

FLUOROURACIL_PUMP_HOURS = 46  # monitoring.clinical.FLUOROURACIL_PUMP_HOURS at the time of writing
PUMP_REGIMENS = ("FOLFOX-Q2W", "FOLFIRINOX-Q2W")


def set_pump_hours(apps, schema_editor):
    apps.get_model("monitoring", "Regimen").objects.filter(code__in=PUMP_REGIMENS).update(
        infusion_hours=FLUOROURACIL_PUMP_HOURS)


class Migration(migrations.Migration):

    dependencies = [
        ('monitoring', '0013_delivery_next_attempt_at'),
    ]

    operations = [
        migrations.AddField(
            model_name='regimen',
            name='infusion_hours',
            field=models.PositiveSmallIntegerField(default=0, help_text='Hours from the recorded chemotherapy time to the end of the last continuous infusion, e.g. 46 for a 5-FU pump; 0 if none. G-CSF timing counts "after chemotherapy" from that end.', verbose_name='continuous infusion (hours)'),
        ),
        # Reversed by removing the field: nothing to undo.
        migrations.RunPython(set_pump_hours, migrations.RunPython.noop),
    ]
