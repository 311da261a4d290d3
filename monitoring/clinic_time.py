"""Clinic-local time as the forecasting engine writes it (naive ISO strings in the clinic's zone)."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone


def from_local_iso(text: str) -> datetime:
    """Return an aware datetime from the engine's clinic-local ISO time."""
    return timezone.make_aware(datetime.fromisoformat(text))
