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


def test_demo_has_an_account_for_every_role_and_the_administrator_can_manage_models(client, regimens):
    from django.contrib.auth.models import Group

    # The group comes from migration 0007; a transactional test before this one may have flushed it.
    Group.objects.get_or_create(name="Administrators")
    from monitoring.apps import grant_administrators

    grant_administrators(sender=None)
    out = StringIO()
    call_command("load_demo", password="demo-password-1", stdout=out)
    for username in ("nurse", "nurse2", "oncologist", "admin"):
        assert f"  {username} " in out.getvalue()
        assert User.objects.get(username=username).check_password("demo-password-1")
    assert User.objects.get(username="oncologist").can_change_treatment
    # Mail for administrators (registration requests, unregistered results) has somewhere to go.
    assert list(User.administrators().values_list("email", flat=True)) == ["admin@neutrowatch.example"]
    assert all(User.objects.filter(username__in=["nurse", "nurse2", "oncologist"]).values_list("email", flat=True))
    admin = User.objects.get(username="admin")
    assert admin.is_staff and not admin.is_superuser
    assert admin.has_perm("monitoring.change_team") and admin.has_perm("monitoring.view_patient")
    assert not User.objects.get(username="nurse").has_perm("monitoring.view_patient")

    client.force_login(admin)
    index = client.get("/admin/")
    assert index.status_code == 200 and b"You don\xe2\x80\x99t have permission" not in index.content
    assert b"/admin/monitoring/team/" in index.content
    assert client.get("/admin/monitoring/patient/").status_code == 200


def test_demo_password_is_reset_for_all_when_an_account_is_added(regimens):
    call_command("load_demo", password="old-password-1", stdout=StringIO())
    User.objects.filter(username="oncologist").delete()
    out = StringIO()
    call_command("load_demo", stdout=out)
    password = out.getvalue().split("password: ")[1].split()[0]
    assert User.objects.get(username="nurse").check_password(password)
    assert User.objects.get(username="oncologist").check_password(password)
