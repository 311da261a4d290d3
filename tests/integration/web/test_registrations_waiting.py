"""An administrator sees, on every page, how many nurses' registration requests wait for her.

A nurse cannot enter results for a new patient until an administrator registers her request
(records/registration.py); the count used to be only on the new-patient page.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from monitoring import records
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

TYPED = {"given_name": "Mary", "family_name": "Seacole", "date_of_birth": "1955-11-23", "sex": "F"}


@pytest.fixture
def administrator(team):
    user = make_user("administrator", [team], role="admin")
    user.is_superuser = True
    user.save()
    return user


def _badge(page: str) -> str | None:
    marker = page.find('id="nav-registrations"')
    if marker < 0:
        return None
    start = page.rfind("<a ", 0, marker)
    return page[start:page.find("</a>", marker)]


def test_the_menu_tells_an_administrator_how_many_requests_wait_and_links_to_them(client, team, nurse, administrator):
    records.request_registration("MRN-NEW-1", TYPED, team, nurse)
    records.request_registration("MRN-NEW-2", TYPED, team, nurse)
    client.force_login(administrator)

    badge = _badge(client.get(reverse("ward")).content.decode())

    assert badge is not None and ">2<" in badge and "waiting" in badge
    link = badge.split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    listing = client.get(link)
    assert listing.status_code == 200
    assert "MRN-NEW-1" in listing.content.decode() and "MRN-NEW-2" in listing.content.decode()


def test_a_resolved_request_leaves_the_count(client, team, nurse, administrator):
    first = records.request_registration("MRN-NEW-1", TYPED, team, nurse)
    records.request_registration("MRN-NEW-2", TYPED, team, nurse)
    done, _ = records.register_from_request(first.pk, administrator)
    assert done
    client.force_login(administrator)

    badge = _badge(client.get(reverse("ward")).content.decode())

    assert badge is not None and ">1<" in badge


def test_no_badge_when_nothing_waits(client, administrator):
    client.force_login(administrator)

    assert _badge(client.get(reverse("ward")).content.decode()) is None


def test_a_nurse_neither_sees_the_count_nor_runs_its_query(nurse_client, team, nurse):
    records.request_registration("MRN-NEW-1", TYPED, team, nurse)

    with CaptureQueriesContext(connection) as queries:
        page = nurse_client.get(reverse("ward")).content.decode()

    assert _badge(page) is None
    assert not [q for q in queries.captured_queries if "registrationrequest" in q["sql"].lower()]
