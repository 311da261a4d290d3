from django.apps import AppConfig
from django.db.models.signals import pre_delete


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "NeutroWatch monitoring"

    def ready(self) -> None:
        from monitoring.audit import refuse_deleting_audited_user

        # Deleting a user would null the actor of her audit rows: deactivate instead.
        pre_delete.connect(refuse_deleting_audited_user, sender=self.get_model("User"),
                           dispatch_uid="refuse_deleting_audited_user")
