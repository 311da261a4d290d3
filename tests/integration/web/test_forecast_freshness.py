"""The freshness endpoint the patient page polls (issue 22), without a browser: notice, swap, reload."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from monitoring import clinical, forecasts, records, selectors
from monitoring.models import AccessLog, Alert
from monitoring.selectors.freshness import PENDING, STALE, forecast_state
from tests.conftest import start_on_regimen

pytestmark = pytest.mark.django_db


@pytest.fixture
def on_docetaxel(patient, regimens):
    cycle = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=3)
    return cycle


def add(patient, anc: str, hours_ago: float = 1) -> None:
    records.record_count(patient, clinical.parse_count(
        collected_at=timezone.now() - timedelta(hours=hours_ago), unit="10^9/L", anc=Decimal(anc)))


def test_a_forecast_older_than_the_latest_result_is_out_of_date_until_recomputed(
        nurse_client, patient, on_docetaxel):
    cycle = on_docetaxel
    url = reverse("patient", args=[patient.pk])
    assert forecast_state(selectors.patient_page(patient, timezone.now()).current.cycle, None) == PENDING
    forecasts.recompute_cycle(cycle.pk)
    html = nurse_client.get(url).content.decode()
    poll_url = reverse("patient_forecast", args=[patient.pk])
    assert "forecast updating" not in html and poll_url not in html  # fresh: no polling at all
    # (htmx itself is loaded whenever there is a cycle: it fetches the what-if table once, views/whatif.py.)

    add(patient, "2.1")
    html = nurse_client.get(url).content.decode()
    assert selectors.patient_page(patient, timezone.now()).current.forecast_state == STALE
    assert "Out of date" in html and "forecast updating" in html and "vendor/htmx.min.js" in html
    shown = ",".join(str(a.pk) for a in selectors.patient_page(patient, timezone.now()).open_alerts)
    assert f'hx-get="{reverse("patient_forecast", args=[patient.pk])}?alerts={shown}&amp;n=0"' in html

    poll = nurse_client.get(reverse("patient_forecast", args=[patient.pk]), {"alerts": shown})
    assert "forecast updating" in poll.content.decode() and 'id="forecast-nadir"' not in poll.content.decode()
    assert "&amp;n=1" in poll.content.decode() and 'delay:1s' in poll.content.decode()
    slow = nurse_client.get(reverse("patient_forecast", args=[patient.pk]), {"alerts": shown, "n": "500"})
    assert "taking longer than usual" in slow.content.decode() and "delay:15s" in slow.content.decode()

    forecasts.recompute_cycle(cycle.pk)
    # (The page's alert cards are those the forecast's rules left open: else it reloads, tested below.)
    shown = ",".join(str(a.pk) for a in selectors.patient_page(patient, timezone.now()).open_alerts)
    poll = nurse_client.get(reverse("patient_forecast", args=[patient.pk]), {"alerts": shown}).content.decode()
    assert "forecast updating" not in poll and "hx-get" not in poll  # the polling stops
    for part in ('id="forecast-nadir" hx-swap-oob="true"', 'id="forecast-ready" hx-swap-oob="true"',
                 'id="first-chart" hx-swap-oob="true"', 'id="overview-charts" hx-swap-oob="true"'):
        assert part in poll
    assert "data-figure-json=" in poll and "<script" not in poll  # htmx drops scripts it swaps in
    assert AccessLog.objects.filter(patient=patient, path__endswith="/forecast/").count() == 3  # each poll a read


def test_alerts_raised_with_the_forecast_reload_the_page(nurse_client, patient, on_docetaxel, settings):
    # Only the count's own alert in play: "grade 4 predicted" (raised from P = 0.2, which docetaxel
    # reaches) would come and go with the recomputes and blur which change reloads the page.
    settings.NEUTROWATCH = {**settings.NEUTROWATCH, "GRADE4_PREDICTED_THRESHOLD": 1.01}
    forecasts.recompute_cycle(on_docetaxel.pk)
    add(patient, "0.3")  # grade 4 observed: raised on saving, so the page shows it already
    shown = ",".join(str(pk) for pk in Alert.objects.filter(patient=patient, resolved_at=None)
                     .values_list("pk", flat=True))
    forecasts.recompute_cycle(on_docetaxel.pk)
    url = reverse("patient_forecast", args=[patient.pk])
    assert "HX-Refresh" not in nurse_client.get(url, {"alerts": shown}).headers
    response = nurse_client.get(url, {"alerts": shown.split(",", 1)[-1] if "," in shown else ""})  # one fewer
    assert response.headers["HX-Refresh"] == "true"


def test_another_teams_patient_is_not_found(nurse_client, other_patient):
    assert nurse_client.get(reverse("patient_forecast", args=[other_patient.pk])).status_code == 404


def test_a_poll_while_the_forecast_is_updating_reads_the_cycle_not_the_whole_page(
        nurse_client, patient, on_docetaxel, django_assert_max_num_queries):
    forecasts.recompute_cycle(on_docetaxel.pk)
    for day in range(3):
        add(patient, "2.1", hours_ago=24 * day + 1)  # results the forecast has not seen yet
    url = reverse("patient_forecast", args=[patient.pk])
    nurse_client.get(url, {"alerts": ""})  # (the session's first request loads more)
    with django_assert_max_num_queries(12) as captured:
        poll = nurse_client.get(url, {"alerts": "", "n": "3"}).content.decode()
    assert "forecast updating" in poll and "&amp;n=4" in poll and 'id="forecast-nadir"' not in poll
    assert not any("monitoring_countresult" in q["sql"] for q in captured.captured_queries)  # no page build
