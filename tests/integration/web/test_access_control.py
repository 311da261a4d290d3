"""Access control: every URL refuses anonymous visitors, another team's records are 404,
every change and read is on the record, log-ins are throttled, idle sessions end."""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.urls import reverse
from django.utils import timezone

from monitoring import records
from monitoring.models import AccessLog, CountResult
from tests.conftest import PASSWORD, REPO
from tests.integration.web.routes import fill, project_routes, team_objects

pytestmark = pytest.mark.django_db

PUBLIC = {"login", "healthz"}  # the only pages an anonymous visitor may see (healthz: no patient data)






def test_the_route_walk_sees_every_area():
    names = {name for name, _, _ in project_routes()}
    assert {"ward", "patient", "alerts", "count_new", "patient_history"} <= names


@pytest.mark.parametrize("method", ["get", "post"])
def test_every_url_refuses_an_anonymous_visitor(client, method):
    for name, route, _ in project_routes():
        if name in PUBLIC:
            continue
        url = fill(route, "1")
        response = getattr(client, method)(url)
        if url.startswith("/api/"):
            assert response.status_code == 401, f"{method.upper()} {url} answered {response.status_code}"
        else:
            assert response.status_code == 302, f"{method.upper()} {url} answered {response.status_code}"
            assert response["Location"].startswith(reverse("login")), f"{url} redirects to {response['Location']}"




def test_another_teams_records_are_404_on_every_url(client, other_nurse, patient, regimens):
    objects = team_objects(patient, regimens)
    client.force_login(other_nurse)
    checked = 0
    for name, route, params in project_routes():
        if not params or route.startswith("api/"):
            continue
        kind = route.split("/")[0]
        assert kind in objects, f"route {route!r} ({name}) takes an id of a kind this test does not know: add it"
        url = fill(route, str(objects[kind]))
        # A POST-only view may answer GET with 405 whatever the id: that reveals nothing.
        before = AccessLog.objects.count()
        get, post = client.get(url), client.post(url)
        assert get.status_code in (404, 405), f"GET {url} answered {get.status_code}"
        assert post.status_code == 404, f"POST {url} answered {post.status_code}"
        # Each refused request is on the record, with the user and the id asked for.
        refused = AccessLog.objects.order_by("-pk")[: AccessLog.objects.count() - before]
        assert len(refused) == (1 if get.status_code == 405 else 2), f"{url}: {len(refused)} entries"
        for entry in refused:
            assert (entry.user, entry.action, entry.requested_id, entry.path) == (
                other_nurse, AccessLog.Action.REFUSED, objects[kind], url)
        checked += 1
    assert checked >= 8
    assert not AccessLog.objects.filter(user=other_nurse).exclude(action=AccessLog.Action.REFUSED).exists()


def test_own_team_can_open_the_same_records(nurse_client, patient, regimens):
    objects = team_objects(patient, regimens)
    for name in ("patient", "patient_history", "count_new"):
        assert nurse_client.get(reverse(name, args=[objects["patients"]])).status_code == 200
    assert nurse_client.get(reverse("count_edit", args=[objects["counts"]])).status_code == 200


def test_ward_lists_only_the_users_teams(nurse_client, patient, other_patient):
    page = nurse_client.get(reverse("ward")).content.decode()
    assert patient.mrn in page and other_patient.mrn not in page


def test_nurses_do_not_get_into_the_admin_site_but_administrators_do(client, nurse, team):
    from tests.conftest import make_user

    client.force_login(nurse)
    assert client.get("/admin/").status_code == 302
    admin = make_user("boss", [team], role="admin")
    client.force_login(admin)
    assert client.get("/admin/").status_code == 200


def test_changes_are_on_the_record_with_who_and_before_after(client, nurse, patient):
    client.force_login(nurse)
    when = timezone.localtime(timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    client.post(reverse("count_new", args=[patient.pk]), {"collected_at": when, "unit": "10^9/L", "anc": "0.4"})
    result = CountResult.objects.get()
    client.post(reverse("count_edit", args=[result.pk]), {"collected_at": when, "unit": "10^9/L", "anc": "0.45"})
    records.delete_result(CountResult.objects.get())

    history = CountResult.history.filter(id=result.pk).order_by("history_date")
    assert [h.history_type for h in history] == ["+", "~", "-"]
    assert history[0].history_user == nurse and history[1].history_user == nurse
    page = client.get(reverse("patient_history", args=[patient.pk])).content.decode()
    assert "0.400 &rarr; 0.450" in page.replace("\n", "") or "0.400 → 0.450" in page
    assert "Deleted" in page


def test_viewing_a_patient_is_on_the_record_and_the_page_links_to_its_history(nurse_client, nurse, patient):
    page = nurse_client.get(reverse("patient", args=[patient.pk])).content.decode()
    assert reverse("patient_history", args=[patient.pk]) in page
    entry = AccessLog.objects.get()
    assert (entry.user, entry.patient, entry.action) == (nurse, patient, AccessLog.Action.VIEW)


def test_the_trail_cannot_be_edited_from_the_app(client, team):
    from tests.conftest import make_user

    admin = make_user("boss", [team], role="admin")
    client.force_login(admin)
    assert client.get("/admin/monitoring/accesslog/add/").status_code == 403
    assert "historicalcountresult" not in client.get("/admin/monitoring/").content.decode().lower()


def test_login_is_locked_after_repeated_failures(client, nurse):
    for _ in range(5):
        response = client.post(reverse("login"), {"username": "nurse", "password": "wrong-password"})
    response = client.post(reverse("login"), {"username": "nurse", "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many failed log-ins" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_failures_behind_the_proxy_lock_out_their_own_address_not_the_nurse(client, nurse):
    """Behind nginx (deploy/nginx.conf) every request comes from 127.0.0.1; the client is the address
    nginx appends to X-Forwarded-For. Whatever the client puts before it is its own word."""
    from django.test import Client

    attacker = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "10.1.2.3, 203.0.113.9"}
    for _ in range(6):
        client.post(reverse("login"), {"username": "nurse", "password": "wrong-password"}, **attacker)
    assert client.post(reverse("login"), {"username": "nurse", "password": PASSWORD}, **attacker).status_code == 429

    at_the_ward = Client().post(reverse("login"), {"username": "nurse", "password": PASSWORD},
                                REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="10.1.2.3")
    assert at_the_ward.status_code == 302, "the nurse was locked out by someone else's failures"


def test_a_forwarded_for_header_from_anyone_but_the_proxy_is_ignored(client, nurse):
    for n in range(6):  # a new made-up address each time, sent straight to the app
        client.post(reverse("login"), {"username": "nurse", "password": "wrong-password"},
                    REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR=f"10.9.9.{n}")
    response = client.post(reverse("login"), {"username": "nurse", "password": PASSWORD},
                           REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="10.9.9.99")
    assert response.status_code == 429


def test_a_wrong_password_is_said_once(client, nurse):
    # The page said it twice: its own sentence, then Django's "Please enter a correct username and password".
    page = client.post(reverse("login"), {"username": "nurse", "password": "wrong-password"}).content.decode()
    assert page.count("did not match") == 1 and "Please enter a correct username" not in page
    assert 'value="nurse"' in page  # the username typed comes back


def test_correct_password_logs_in(client, nurse):
    response = client.post(reverse("login"), {"username": "nurse", "password": PASSWORD})
    assert response.status_code == 302 and client.session["_auth_user_id"] == str(nurse.pk)


def test_idle_session_expires_and_ends_at_browser_close(client, nurse, settings):
    client.post(reverse("login"), {"username": "nurse", "password": PASSWORD})
    # The idle sign-out comes at 30 min (monitoring/guards/idle.py); the store's expiry is a minute later.
    assert client.session.get_expiry_age() == 31 * 60
    assert client.session.get_expire_at_browser_close()
    assert client.get(reverse("ward")).status_code == 200
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    response = client.get(reverse("ward"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_deploy_checks_pass_under_production_settings():
    env = dict(os.environ, DJANGO_DEBUG="false", SECRET_KEY=secrets.token_urlsafe(64),
               ALLOWED_HOSTS="neutrowatch.example.org", DJANGO_SETTINGS_MODULE="neutrowatch.settings")
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_settings_refuse_to_start_without_a_secret_key():
    env = dict(os.environ, DJANGO_DEBUG="false", SECRET_KEY="", DJANGO_SETTINGS_MODULE="neutrowatch.settings")
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr


def _user_change_form(client, user, **changes) -> dict:
    """Return the admin change form of `user` as the page fills it, with `changes` on top."""
    import re

    page = client.get(f"/admin/monitoring/user/{user.pk}/change/").content.decode()
    inputs = re.findall(r'<input type="(?:text|email|hidden)" name="(\w+)" value="([^"]*)"', page)
    data = {name: value for name, value in inputs if name != "csrfmiddlewaretoken"}
    data.update(is_active="on", role=user.role, teams=[t.pk for t in user.teams.all()])
    data.update(changes)
    return data


def test_an_administrator_cannot_make_anyone_a_superuser_in_the_admin_site(client, team, nurse):
    """Administrators hold NeutroWatch's permissions (the Administrators group); a superuser holds every
    permission there is (users' groups and permissions, the log-in throttle's records)."""
    from monitoring.models import User
    from tests.conftest import make_user

    boss = make_user("boss", [team], role="admin")
    client.force_login(boss)
    for user in (boss, nurse):
        response = client.post(f"/admin/monitoring/user/{user.pk}/change/",
                               _user_change_form(client, user, is_superuser="on"))
        assert response.status_code == 302, response.content.decode()[:2000]
    assert not User.objects.filter(is_superuser=True).exists()
    nurse.refresh_from_db()
    assert nurse.role == "nurse" and not nurse.is_staff
    # The role is still hers to give: an administrator is put in the Administrators group.
    client.post(f"/admin/monitoring/user/{nurse.pk}/change/", _user_change_form(client, nurse, role="admin"))
    nurse.refresh_from_db()
    assert nurse.is_staff and list(nurse.groups.values_list("name", flat=True)) == ["Administrators"]


def test_a_superuser_still_can(client, team, nurse):
    from monitoring.models import User

    root = User.objects.create_superuser("root", "root@example.org", PASSWORD)
    client.force_login(root)
    response = client.post(f"/admin/monitoring/user/{nurse.pk}/change/",
                           _user_change_form(client, nurse, is_superuser="on"))
    assert response.status_code == 302
    nurse.refresh_from_db()
    assert nurse.is_superuser
