"""One row per G-CSF dose and per temperature reading without an external id, as for counts.

Rows already stored twice (same patient, time and product / value, no external id: a double
submit, or two senders at once before this constraint) are removed first, keeping the earliest
entered. Each removed row gets a "deleted" history record with its full values and the id of the
row kept, so the removal is visible in the record's history and nothing is lost.
"""

from django.db import migrations, models
from django.db.models import Count
from django.utils import timezone

# (model, time field, value field): the key of a result that came without an external id.
UNKEYED = (("GcsfDose", "given_at", "product"), ("TemperatureReading", "taken_at", "temperature_c"))


def remove_exact_duplicates(apps, schema_editor):
    now = timezone.now()
    for model_name, time_field, value_field in UNKEYED:
        model = apps.get_model("monitoring", model_name)
        historical = apps.get_model("monitoring", f"Historical{model_name}")
        unkeyed = model.objects.filter(external_id="")
        repeated = (unkeyed.values("patient_id", time_field, value_field).annotate(copies=Count("pk"))
                    .filter(copies__gt=1).order_by())
        for key in list(repeated):
            del key["copies"]
            kept, *extra = unkeyed.filter(**key).order_by("entered_at", "pk")
            historical.objects.bulk_create([_deleted(historical, model, row, kept, now) for row in extra])
            model.objects.filter(pk__in=[row.pk for row in extra]).delete()


def _deleted(historical, model, row, kept, now):
    values = {field.attname: getattr(row, field.attname) for field in model._meta.concrete_fields}
    reason = f"duplicate of #{kept.pk} removed by migration 0011"
    return historical(**values, history_type="-", history_date=now, history_change_reason=reason)


class Migration(migrations.Migration):

    dependencies = [
        ("monitoring", "0010_labfeed"),
    ]

    operations = [
        migrations.RunPython(remove_exact_duplicates, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="gcsfdose",
            constraint=models.UniqueConstraint(
                condition=models.Q(("external_id", "")), fields=("patient", "given_at", "product"),
                name="unique_unkeyed_gcsf",
            ),
        ),
        migrations.AddConstraint(
            model_name="temperaturereading",
            constraint=models.UniqueConstraint(
                condition=models.Q(("external_id", "")), fields=("patient", "taken_at", "temperature_c"),
                name="unique_unkeyed_temperature",
            ),
        ),
    ]
