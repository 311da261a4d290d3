"""A what-if scenario applied as the plan (issue 23 Part 2): oncologists only, confirmed, audited, once.

The what-if table offers "Apply as plan" on each scenario still open for the current cycle and the
next; the confirm page says what will change; the post changes the cycle through the treatment
write path (history with the oncologist's name), the forecast reads the new plan and is recomputed
on commit, and a stale table (the cycle changed since) is refused in words, never applied twice.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.test import Client
from django.utils import timezone

from monitoring import clinical, forecasts, records, selectors, treatment
from monitoring.models import Cycle, Forecast
from tests.conftest import make_patient, make_user, start_on_regimen
from tests.integration.treatment.whatif_links import form_of, links

pytestmark = pytest.mark.django_db



@pytest.fixture
def oncologist_client(oncologist) -> Client:
    client = Client()
    client.force_login(oncologist)
    return client






def apply(client, patient, href: str, **kwargs):
    return client.post(f"/patients/{patient.pk}/whatif/apply/", form_of(href), **kwargs)


def test_an_oncologist_sees_apply_buttons_for_this_cycle_and_the_next_a_nurse_none(
        oncologist_client, nurse_client, patient, due_cycle):
    following = due_cycle.course.cycles.get(number=3)
    offered = links(oncologist_client, patient)
    assert set(offered) == {(c.pk, key) for c in (due_cycle, following) for key in treatment.plans.APPLICABLE}
    table = nurse_client.get(f"/patients/{patient.pk}/whatif/").content.decode()
    assert 'data-scenario="peg_day2"' in table and "Apply as plan" not in table and "/whatif/apply/" not in table


def test_a_nurse_cannot_apply_and_another_team_cannot_see(oncologist_client, nurse_client, patient, due_cycle,
                                                          other_team):
    href = links(oncologist_client, patient)[(due_cycle.pk, "peg_day2")]
    assert nurse_client.get(href).status_code == 403
    assert apply(nurse_client, patient, href).status_code == 403
    outsider = Client()
    outsider.force_login(make_user("otheronc", [other_team], role="oncologist"))
    assert outsider.get(href).status_code == 404
    assert apply(outsider, patient, href).status_code == 404
    due_cycle.refresh_from_db()
    assert due_cycle.planned_gcsf == "" and due_cycle.history.count() == 1  # nothing written


def test_the_confirm_page_says_what_changes_and_the_post_needs_csrf(oncologist, oncologist_client, patient,
                                                                   due_cycle):
    href = links(oncologist_client, patient)[(due_cycle.pk, "dose_80")]
    page = oncologist_client.get(href).content.decode()
    assert "Plan cycle 2 at 60 mg/m² (label step, 80 %)." in page   # docetaxel 75 -> 60, the label's step
    assert 'name="csrfmiddlewaretoken"' in page and "Confirm: apply this plan" in page
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(oncologist)
    assert apply(strict, patient, href).status_code == 403
    due_cycle.refresh_from_db()
    assert due_cycle.planned_dose_fraction == Decimal("1.00")


def test_pegfilgrastim_day_2_is_planned_audited_and_the_forecast_recomputed_with_it(
        oncologist, oncologist_client, patient, due_cycle, django_capture_on_commit_callbacks):
    before = Forecast.objects.get(cycle=due_cycle)
    href = links(oncologist_client, patient)[(due_cycle.pk, "peg_day2")]
    with mock.patch("monitoring.jobs.enqueue_recomputes") as enqueue, \
            django_capture_on_commit_callbacks(execute=True):
        answer = apply(oncologist_client, patient, href, follow=True)
    assert enqueue.call_args_list == [mock.call([due_cycle.pk])]   # queued once, on commit
    assert "The forecast is being recomputed with this plan" in answer.content.decode()

    due_cycle.refresh_from_db()
    assert due_cycle.planned_gcsf == Cycle.PlannedGcsf.PEG_DAY2
    latest = due_cycle.history.order_by("-history_id").first()
    assert latest.history_user == oncologist and latest.history_change_reason == "What-if applied: peg_day2"

    history = selectors.forecast_history(due_cycle, timezone.now())
    planned = [g for g in history["gcsf"] if g["product"] == "pegfilgrastim"]
    assert len(planned) == 1   # day 2: 24 h after the planned day 1
    forecasts.recompute_cycle(due_cycle.pk)
    after = Forecast.objects.get(cycle=due_cycle)
    assert after.input_version > before.input_version
    assert after.p_grade4 < before.p_grade4 - 0.15   # the plan reaches the forecast


def test_a_planned_gcsf_gives_way_to_a_recorded_dose(oncologist_client, patient, due_cycle):
    apply(oncologist_client, patient, links(oncologist_client, patient)[(due_cycle.pk, "filgrastim")])
    due_cycle.refresh_from_db()
    planned = selectors.forecast_history(due_cycle, timezone.now())["gcsf"]
    assert sum(g["product"] == "filgrastim" for g in planned) == 8
    records.record_gcsf(patient, given_at=due_cycle.day1 + timedelta(hours=1), product=clinical.FILGRASTIM,
                        dose=Decimal("300"), dose_unit="ug", route="SC")
    recorded = selectors.forecast_history(due_cycle, timezone.now() + timedelta(hours=2))["gcsf"]
    assert sum(g["product"] == "filgrastim" for g in recorded) == 1   # what was given, not the plan


def test_a_one_week_delay_of_the_next_cycle_moves_it_and_later_ones_once(oncologist_client, patient, due_cycle):
    course = due_cycle.course
    third, fourth = course.cycles.get(number=3), course.cycles.get(number=4)
    href = links(oncologist_client, patient)[(third.pk, "delay_1w")]
    first = apply(oncologist_client, patient, href, follow=True).content.decode()
    again = apply(oncologist_client, patient, href, follow=True).content.decode()   # a double click
    assert "Move cycle 3" in first and "already applied to cycle 3: nothing changed" in again
    moved3, moved4 = course.cycles.get(number=3), course.cycles.get(number=4)
    assert moved3.planned_day1 - third.planned_day1 == timedelta(days=7)
    assert moved4.planned_day1 - fourth.planned_day1 == timedelta(days=7)
    assert moved3.status == Cycle.Status.DELAYED and moved3.delay_reason == "What-if applied: one-week delay"


def test_a_cycle_that_moved_on_is_refused_in_words(oncologist_client, patient, due_cycle):
    offered = links(oncologist_client, patient)
    treatment.give_cycle(due_cycle, timezone.now() - timedelta(hours=1))   # given since the table was made
    answer = apply(oncologist_client, patient, offered[(due_cycle.pk, "dose_80")])
    assert answer.status_code == 409
    assert "Cycle 2 has changed since the table was made" in answer.content.decode()
    due_cycle.refresh_from_db()
    assert due_cycle.planned_dose_fraction == Decimal("1.00")
    # A fresh table: the dose and day 1 of a given cycle are no longer offered; G-CSF still is.
    fresh = {key for (cycle_id, key) in links(oncologist_client, patient) if cycle_id == due_cycle.pk}
    assert fresh == {"peg_day2", "filgrastim"}
    forged = {**form_of(offered[(due_cycle.pk, "delay_1w")]), "stamp": str(treatment.plan_stamp(due_cycle))}
    answer = oncologist_client.post(f"/patients/{patient.pk}/whatif/apply/", forged)
    assert answer.status_code == 409 and "its dose and day 1 can no longer change" in answer.content.decode()


def test_catalogue_regimens_carry_their_label_dose_step(regimens):
    assert (regimens["DOCETAXEL-75-Q3W"].label_dose_step, regimens["DOCETAXEL-75-Q3W"].label_dose_step_dose) == (
        Decimal("0.80"), "60 mg/m²")
    assert (regimens["DOCETAXEL-100-Q3W"].label_dose_step, regimens["DOCETAXEL-100-Q3W"].label_dose_step_dose) == (
        Decimal("0.75"), "75 mg/m²")
    assert "4.2" in regimens["DOCETAXEL-75-Q3W"].label_dose_step_source
    # A one-drug step (TAC, TC: docetaxel alone) is not a whole-regimen step: those keep 80 %.
    assert regimens["TC-Q3W"].label_dose_step is None and regimens["TAC-Q3W"].label_dose_step is None


def test_the_table_names_the_label_step_and_a_regimen_without_one_says_80(nurse_client, patient, due_cycle,
                                                                          regimens, team):
    table = nurse_client.get(f"/patients/{patient.pk}/whatif/").content.decode()
    assert table.count('<tr data-scenario="dose_80"><th scope="row">Dose 60 mg/m² (label step, 80 %)') == 2
    assert "Dose at 80 %" not in table
    other = make_patient(team, mrn="MRN002")
    start_on_regimen(other, regimens["TC-Q3W"], days_ago=3)
    assert "Dose at 80 %" in nurse_client.get(f"/patients/{other.pk}/whatif/").content.decode()


def test_the_applied_plan_shows_in_the_cycles_table_and_starts_the_give_form(oncologist_client, nurse_client,
                                                                             patient, due_cycle):
    offered = links(oncologist_client, patient)
    apply(oncologist_client, patient, offered[(due_cycle.pk, "peg_day2")])
    apply(oncologist_client, patient, links(oncologist_client, patient)[(due_cycle.pk, "dose_80")])
    page = nurse_client.get(f"/patients/{patient.pk}/").content.decode()
    assert "Planned: Pegfilgrastim day 2 (or on-body injector on day 1)" in page
    assert "Planned dose: 80\u00a0%" in page
    # Applied plans are no longer offered; the reduced-dose row now reduces the reduced plan, and says so.
    assert {key for (cycle_id, key) in links(oncologist_client, patient) if cycle_id == due_cycle.pk} == {
        "filgrastim", "delay_1w"}
    table = nurse_client.get(f"/patients/{patient.pk}/whatif/").content.decode()
    assert "Dose at 80 % of the reduced plan" in table and "label step" not in table
    give = nurse_client.get(f"/cycles/{due_cycle.pk}/give/").content.decode()
    assert re.search(r'name="dose_fraction"[^>]*value="0\.80"', give), "the give form starts at the planned dose"


def test_the_overlay_traces_are_valid_plotly_on_the_cycle_chart_axis(patient, due_cycle):
    import plotly.graph_objects as go

    from monitoring import charts
    from monitoring.forecasts.whatif.scenarios import cycle_scenarios

    overlay = charts.scenario_traces(cycle_scenarios(due_cycle, timezone.now()))
    assert overlay["chart"] == f"chart-fig-cycle-{due_cycle.pk}"
    assert [s["key"] for s in overlay["scenarios"]] == ["peg_day2", "filgrastim", "dose_80", "delay_1w"]
    traces = [t for s in overlay["scenarios"] for t in s["traces"]]
    go.Figure({"data": traces})   # raises ValueError on any property Plotly does not know
    assert all(t["visible"] is False for t in traces)   # off until ticked
    assert len({t["line"]["color"] for t in traces}) == 4 and len({t["line"].get("dash") for t in traces}) == 5
    delay = next(s for s in overlay["scenarios"] if s["key"] == "delay_1w")["traces"][2]
    assert delay["x"][0] == pytest.approx(1 + timezone.localtime(due_cycle.day1).hour / 24, abs=0.05)  # day 1
    assert delay["x"][-1] == pytest.approx(delay["x"][0] + 28, abs=0.05)   # the delayed cycle ends a week later


def test_a_planned_gcsf_nobody_gave_alerts_and_the_forecast_stops_counting_on_it(team, regimens):
    # Fail safe: a plan nobody carried out must not keep the forecast optimistic, and someone must hear
    # of it even on a low FN-risk regimen with no risk factor (where "G-CSF not given" never fires).
    from monitoring import alerts
    from monitoring.models import Alert

    patient = make_patient(team, mrn="PLAN01", date_of_birth="1990-01-01")
    cycle = start_on_regimen(patient, regimens["PACLITAXEL-WEEKLY"], days_ago=4)
    Cycle.objects.filter(pk=cycle.pk).update(planned_gcsf=Cycle.PlannedGcsf.PEG_DAY2)
    cycle = Cycle.objects.select_related("course__regimen").get(pk=cycle.pk)
    on_day2 = cycle.day1 + timedelta(hours=30)
    assert [g["product"] for g in selectors.forecast_history(cycle, on_day2)["gcsf"]] == ["pegfilgrastim"]
    assert selectors.forecast_history(cycle, timezone.now())["gcsf"] == []  # 72 h passed, none recorded

    made = forecasts.recompute_cycle(cycle.pk, now=on_day2)  # made on day 2, counting on the dose
    assert selectors.lapsed_gcsf_plan_cycle_ids(timezone.now()) == [cycle.pk]
    forecasts.recompute_stale(inline=True)
    remade = Forecast.objects.get(cycle=cycle)
    assert remade.input_version > made.input_version and remade.as_of > on_day2
    assert selectors.lapsed_gcsf_plan_cycle_ids(timezone.now()) == []  # once, not at every sweep

    alerts.evaluate_alerts(cycle.pk, timezone.now())
    alert = Alert.objects.get(cycle=cycle, kind=Alert.Kind.GCSF_NOT_GIVEN, resolved_at=None)
    assert "planned for this cycle: Pegfilgrastim day 2" in alert.message
    assert "The forecast no longer counts on the planned dose." in alert.message
