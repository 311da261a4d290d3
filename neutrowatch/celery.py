"""Celery application: Redis broker, tasks discovered in the installed apps."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "neutrowatch.settings")

app = Celery("neutrowatch")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
