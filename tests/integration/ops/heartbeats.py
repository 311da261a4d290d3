"""Heartbeats of every part, as the running processes would write them (for the health tests)."""

from datetime import timedelta

from django.utils import timezone

from monitoring import health


def beat_all(age: timedelta = timedelta(seconds=10)) -> None:
    for component in health.expected_components():
        health.record_heartbeat(component, timezone.now() - age)
