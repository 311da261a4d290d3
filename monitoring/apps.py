from django.apps import AppConfig
from django.db.models.signals import post_migrate, pre_delete


def grant_administrators(sender, using="default", **kwargs) -> None:
    """Give the Administrators group every permission on NeutroWatch's models, new ones included."""
    from django.contrib.auth.models import Group, Permission

    from monitoring.models.people import ADMINISTRATORS_GROUP

    group = Group.objects.using(using).filter(name=ADMINISTRATORS_GROUP).first()
    if group is not None:
        group.permissions.add(*Permission.objects.using(using).filter(content_type__app_label="monitoring"))


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "NeutroWatch monitoring"

    def ready(self) -> None:
        from monitoring import checks  # noqa: F401  (registers the system checks)
        from monitoring.audit import refuse_deleting_audited_user

        # Deleting a user would null the actor of her audit rows: deactivate instead.
        pre_delete.connect(refuse_deleting_audited_user, sender=self.get_model("User"),
                           dispatch_uid="refuse_deleting_audited_user")
        # After auth's own post_migrate handler has made the permissions of new models.
        post_migrate.connect(grant_administrators, sender=self, dispatch_uid="grant_administrators")
