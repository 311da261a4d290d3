from __future__ import annotations

from django.db import models


class Heartbeat(models.Model):
    """The last time a background component proved it was alive (one row per component).

    The worker writes "worker" when it starts and every time it runs the beat's minutely
    heartbeat task, so that row goes stale when either the worker or beat stops; beat writes
    "beat" when it starts. Pages and /healthz read the age of "worker".
    """

    component = models.CharField(max_length=20, unique=True)
    beaten_at = models.DateTimeField()
    hostname = models.CharField(max_length=255, blank=True)

    def __str__(self) -> str:
        return f"{self.component} at {self.beaten_at:%Y-%m-%d %H:%M:%S}"
