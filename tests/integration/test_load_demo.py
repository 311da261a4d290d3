from io import StringIO

import pytest
from django.core.management import call_command

from monitoring.models import CountResult, Cycle, Forecast, GcsfDose, Patient, Team, TemperatureReading, User

pytestmark = pytest.mark.django_db


def _counts() -> dict:
    return {
        model.__name__: model.objects.count()
        for model in (Team, User, Patient, Cycle, CountResult, GcsfDose, TemperatureReading, Forecast)
    }


def test_load_demo_twice_adds_nothing_the_second_time(regimens):
    out = StringIO()
    call_command("load_demo", password="demo-password-1", stdout=out)
    first = _counts()
    assert "password: demo-password-1" in out.getvalue()
    assert first["Team"] == 2 and first["Patient"] == 20
    assert first["Forecast"] > 0 and first["GcsfDose"] > 0 and first["TemperatureReading"] > 0
    assert Cycle.objects.exclude(delay_reason="").exists()

    call_command("load_demo", stdout=StringIO())
    assert _counts() == first
    nurse = User.objects.get(username="nurse")
    assert nurse.check_password("demo-password-1")
    assert {t.name for t in nurse.teams.all()} == {"Oncology day unit"}


def test_load_demo_generates_and_prints_a_password_when_none_is_given(regimens):
    out = StringIO()
    call_command("load_demo", stdout=out)
    password = out.getvalue().split("password: ")[1].split()[0]
    assert User.objects.get(username="nurse2").check_password(password)
