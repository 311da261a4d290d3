from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0016_duty_rota_triage"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="delivery",
            options={"ordering": ["-created_at"], "verbose_name_plural": "deliveries"},
        ),
    ]
