from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0015_alert_held_result"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="delivery",
            options={"ordering": ["-created_at"], "verbose_name_plural": "deliveries"},
        ),
    ]
