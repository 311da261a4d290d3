"""Heartbeats of the background components, and the "Administrators" group.

Users with the administrator role are put in the group (User.save), which holds every permission
on NeutroWatch's models, so an administrator sees and manages them in the admin site. Permissions
of models added by later migrations join it after each `migrate` (monitoring.apps).
"""

from django.db import migrations, models

ADMINISTRATORS = "Administrators"


def create_administrators(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally made after all migrations (post_migrate); make them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    User = apps.get_model("monitoring", "User")
    group, _ = Group.objects.get_or_create(name=ADMINISTRATORS)
    group.permissions.add(*Permission.objects.filter(content_type__app_label="monitoring"))
    for user in User.objects.filter(role="admin"):
        user.groups.add(group)


class Migration(migrations.Migration):

    dependencies = [
        ("monitoring", "0005_contacts_and_time_to_antibiotic"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.CreateModel(
            name="Heartbeat",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("component", models.CharField(max_length=20, unique=True)),
                ("beaten_at", models.DateTimeField()),
                ("hostname", models.CharField(blank=True, max_length=255)),
            ],
        ),
        migrations.RunPython(create_administrators, migrations.RunPython.noop),
    ]
