from django.db import migrations, models
from django.db.models import F


def lapsed_now(apps, schema_editor):
    """A delivery claimed before leases existed and still pending is in flight or was lost with its
    worker: its lease is taken to have lapsed when it was claimed, so the catch-up job sends it again
    (a repeat carries the same Idempotency-Key)."""
    Delivery = apps.get_model("monitoring", "Delivery")
    Delivery.objects.filter(status="pending", claimed_at__isnull=False).update(lease_expires_at=F("claimed_at"))


class Migration(migrations.Migration):

    dependencies = [
        ("monitoring", "0018_alert_regimen_history"),
    ]

    operations = [
        migrations.AddField(
            model_name="delivery",
            name="lease_expires_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(lapsed_now, migrations.RunPython.noop),
    ]
