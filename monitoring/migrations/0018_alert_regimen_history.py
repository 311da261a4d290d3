"""Issue 25: history for alerts and regimens, and when each cycle's forecast inputs last changed.

Alerts and regimens get history with a baseline row for each existing one ("+", dated when history
began), so the first later change shows what it changed from. `Cycle.inputs_changed_at` tells a
forecast that is out of date for more than a minute (health check, catch-up job).
"""

from decimal import Decimal

import django.core.validators
import django.db.models.deletion
import simple_history.models
from django.conf import settings
from django.db import migrations, models


def baseline(apps, schema_editor) -> None:
    """Write one '+' history row per existing alert and regimen, as it stands now."""
    from django.utils import timezone

    now = timezone.now()
    for name in ("Alert", "Regimen"):
        model, history = apps.get_model("monitoring", name), apps.get_model("monitoring", f"Historical{name}")
        columns = [f.attname for f in model._meta.concrete_fields]
        rows = (history(**{c: getattr(obj, c) for c in columns}, history_date=now, history_type="+",
                        history_change_reason="baseline when history began (migration 0020)")
                for obj in model.objects.iterator(chunk_size=2000))
        while batch := [row for _, row in zip(range(2000), rows, strict=False)]:
            history.objects.bulk_create(batch)


class Migration(migrations.Migration):

    dependencies = [
        ('monitoring', '0017_delivery_verbose_name_plural'),
    ]

    operations = [
        migrations.AddField(
            model_name="cycle",
            name="inputs_changed_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.CreateModel(
            name='HistoricalAlert',
            fields=[
                ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                ('kind', models.CharField(choices=[('grade4_observed', 'Grade 4 neutropenia observed'), ('grade3_observed', 'Grade 3 neutropenia observed'), ('grade4_predicted', 'Grade 4 neutropenia predicted'), ('febrile_neutropenia', 'Febrile neutropenia suspected'), ('not_ready', 'Not ready for next cycle'), ('nadir_unmonitored', 'Nadir window unmonitored'), ('gcsf_not_given', 'G-CSF prophylaxis indicated but not given'), ('fever_unknown_anc', 'Fever on chemotherapy, neutrophil status unknown'), ('fever_recheck', 'Raised temperature: re-check within 1 hour'), ('gcsf_timing', 'G-CSF given inside the window its label excludes'), ('held_result', 'Grade 3-4 count held for review'), ('triage_red', 'Red on a telephone triage call: assess face to face now')], max_length=30)),
                ('severity', models.PositiveSmallIntegerField(choices=[(1, 'Low'), (2, 'Medium'), (3, 'High'), (4, 'Critical')])),
                ('message', models.TextField()),
                ('evidence', models.JSONField(default=dict)),
                ('raised_at', models.DateTimeField()),
                ('acknowledged_at', models.DateTimeField(blank=True, null=True)),
                ('acknowledgement_note', models.TextField(blank=True)),
                ('antibiotics_given_at', models.DateTimeField(blank=True, null=True)),
                ('resolved_at', models.DateTimeField(blank=True, help_text='Set when the alert is closed: its condition cleared (and, if critical, it was acknowledged).', null=True)),
                ('cleared_at', models.DateTimeField(blank=True, help_text='When the condition cleared. A critical alert stays open (and escalates) until acknowledged.', null=True)),
                ('escalated_at', models.DateTimeField(blank=True, null=True)),
                ('history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history_date', models.DateTimeField(db_index=True)),
                ('history_change_reason', models.CharField(max_length=100, null=True)),
                ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                ('acknowledged_by', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('cycle', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='monitoring.cycle')),
                ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('patient', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='monitoring.patient')),
            ],
            options={
                'verbose_name': 'historical alert',
                'verbose_name_plural': 'historical alerts',
                'ordering': ('-history_date', '-history_id'),
                'get_latest_by': ('history_date', 'history_id'),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name='HistoricalRegimen',
            fields=[
                ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                ('code', models.SlugField(max_length=40)),
                ('name', models.CharField(max_length=120)),
                ('drugs', models.CharField(max_length=200)),
                ('cycle_length_days', models.PositiveSmallIntegerField(validators=[django.core.validators.MinValueValidator(1)])),
                ('chemo_days', models.JSONField(default=list, help_text='Days of the cycle with chemotherapy, e.g. [1, 8].')),
                ('fn_risk', models.CharField(choices=[('high', 'High (> 20 %)'), ('intermediate', 'Intermediate (10-20 %)'), ('low', 'Low (< 10 %)')], max_length=20, verbose_name='FN risk')),
                ('gcsf_recommendation', models.CharField(choices=[('primary', 'Primary prophylaxis recommended'), ('consider', 'Consider if patient risk factors'), ('not_routine', 'Not routinely recommended')], max_length=20, verbose_name='G-CSF')),
                ('next_cycle_anc_1e9_per_l', models.DecimalField(decimal_places=2, default=Decimal('1.5'), max_digits=4, verbose_name='ANC to start next cycle (x10^9/L)')),
                ('nadir_window_start_day', models.PositiveSmallIntegerField(default=7)),
                ('nadir_window_end_day', models.PositiveSmallIntegerField(default=14)),
                ('infusion_hours', models.PositiveSmallIntegerField(default=0, help_text='Hours from the recorded chemotherapy time to the end of the last continuous infusion, e.g. 46 for a 5-FU pump; 0 if none. G-CSF timing counts "after chemotherapy" from that end.', verbose_name='continuous infusion (hours)')),
                ('source', models.TextField(blank=True, help_text='Where the FN risk and schedule come from.')),
                ('history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history_date', models.DateTimeField(db_index=True)),
                ('history_change_reason', models.CharField(max_length=100, null=True)),
                ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'historical regimen',
                'verbose_name_plural': 'historical regimens',
                'ordering': ('-history_date', '-history_id'),
                'get_latest_by': ('history_date', 'history_id'),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.RunPython(baseline, migrations.RunPython.noop),
    ]
