"""Content-Security-Policy without unsafe-inline scripts, and Cache-Control: no-store on every signed-in page."""
from __future__ import annotations

import re

import pytest
from django.urls import reverse

from monitoring.models import ApiToken
from tests.integration.web.routes import fill, project_routes, team_objects

pytestmark = pytest.mark.django_db

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I)
NONCE = re.compile(r"nonce=\"([^\"]+)\"")
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)


def directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {name: values for name, *values in (part.split() for part in header.split(";") if part.strip())}


def check_page(response, url: str) -> None:
    policy = directives(response)
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"], url
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"], url
    if "text/html" in response["Content-Type"]:
        page = response.content.decode()
        assert not EVENT_HANDLER.search(page), f"{url} has an inline event handler"
        for tag in INLINE_SCRIPT.findall(page):  # an inline script runs only with this response's nonce
            (nonce,) = NONCE.findall(tag)
            assert f"'nonce-{nonce}'" in policy["script-src"], f"{url}: {tag}"


def test_every_signed_in_page_has_the_csp_and_is_never_stored(client, team, patient, regimens):
    from tests.conftest import make_user

    objects = team_objects(patient, regimens)
    client.force_login(make_user("oncologist", [team], role="oncologist"))
    checked = 0
    for name, route, params in project_routes():
        # /healthz answers 503 without heartbeats: tests/integration/test_health.py.
        if name in ("logout", "alert_acknowledge", "alert_antibiotics", "api_results", "healthz",
                    "import_exception_fix", "import_exception_retry", "import_exception_dismiss", "rota_pattern_add",
                    "rota_override_add", "rota_row_delete", "triage_follow_up_done",  # POST only, or no page
                    "api_risk_assessments"):  # token-only JSON: tests/integration/forecasts/test_whatif.py
            continue
        url = fill(route, str(objects[route.split("/")[0]])) if params else reverse(name)
        response = client.get(url)
        assert response.status_code == 200, url
        assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"], url
        check_page(response, url)
        checked += 1
    assert checked >= 12


def test_login_page_has_the_csp(client):
    response = client.get(reverse("login"))
    check_page(response, "login")


def test_api_answers_are_never_stored(client, team):
    _, raw = ApiToken.issue("lab", [team])
    response = client.post(reverse("api_results"), "mrn,collected_at,anc,unit\n", content_type="text/csv",
                           headers={"Authorization": f"Bearer {raw}"})
    assert "no-store" in response["Cache-Control"]
    assert "no-store" in client.post(reverse("api_results"))["Cache-Control"]  # 401 too


def test_the_admin_site_keeps_the_policy(client, team):
    from tests.conftest import make_user

    admin = make_user("boss", [team], role="admin")
    admin.is_superuser = True
    admin.save()
    client.force_login(admin)
    response = client.get("/admin/monitoring/patient/")
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    check_page(response, "/admin/monitoring/patient/")
