"""No 500 and one change from a race: the same "Apply as plan" sent 20 times at once, against a live server.

Each post runs in its own server thread on its own PostgreSQL connection (as in
tests/integration/records/test_concurrent_posts.py): one applies the plan, the others are told it
was already applied; the delay moves the cycles once, not twenty times.
"""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.test import Client

from monitoring import treatment
from monitoring.models import Cycle
from tests.integration.conftest import CONCURRENT_POSTS, CSRF
from tests.integration.treatment.whatif_links import form_of, links

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def fire_as(fire, oncologist, patient, href: str):
    client = Client()
    client.force_login(oncologist)
    body = urlencode({**form_of(href), "csrfmiddlewaretoken": CSRF})
    return fire(f"/patients/{patient.pk}/whatif/apply/", body, {
        "Cookie": f"sessionid={client.cookies['sessionid'].value}; csrftoken={CSRF}",
        "Content-Type": "application/x-www-form-urlencoded"})


@pytest.mark.parametrize("which, key", [("current", "peg_day2"), ("next", "delay_1w"), ("current", "dose_80")])
def test_twenty_identical_apply_posts_change_the_plan_once(fire, oncologist, patient, due_cycle,
                                                           which, key):
    client = Client()
    client.force_login(oncologist)
    target = due_cycle if which == "current" else due_cycle.course.cycles.get(number=3)
    later = {c.number: c.planned_day1 for c in due_cycle.course.cycles.all()}
    history_rows = target.history.count()
    answers = fire_as(fire, oncologist, patient, links(client, patient)[(target.pk, key)])

    statuses = sorted(status for status, _ in answers)
    assert statuses == [302] * CONCURRENT_POSTS, statuses   # no 500, no 409: all answered "applied" or "already"
    texts = [text for _, messages in answers for text in messages]
    assert sum(text.startswith("Applied:") for text in texts) == 1
    assert sum("already applied" in text for text in texts) == CONCURRENT_POSTS - 1
    target.refresh_from_db()
    assert target.history.count() == history_rows + 1
    assert target.history.order_by("-history_id").first().history_change_reason == f"What-if applied: {key}"
    if key == "delay_1w":
        for cycle in Cycle.objects.filter(course=due_cycle.course, number__gte=3):
            assert cycle.planned_day1 - later[cycle.number] == timedelta(days=7)   # once, not 20 times
    assert treatment.plan_stamp(target) > 0
