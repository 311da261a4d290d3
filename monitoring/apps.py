from django.apps import AppConfig
from django.db.models.signals import post_migrate

ADMINISTRATORS_GROUP = "Administrators"


def grant_administrators(sender, using="default", **kwargs) -> None:
    """Give the Administrators group every permission on NeutroWatch's models, new ones included."""
    from django.contrib.auth.models import Group, Permission

    group = Group.objects.using(using).filter(name=ADMINISTRATORS_GROUP).first()
    if group is not None:
        group.permissions.add(*Permission.objects.using(using).filter(content_type__app_label="monitoring"))


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "NeutroWatch monitoring"

    def ready(self) -> None:
        # After auth's own post_migrate handler has made the permissions of new models.
        post_migrate.connect(grant_administrators, sender=self, dispatch_uid="grant_administrators")
