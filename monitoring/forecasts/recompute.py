"""Recompute a cycle's forecast from everything known now, and catch up with stale ones.

Called by the worker (`tasks.recompute_cycle`) after each change, and by the sweeper for any
cycle left stale while the broker or the worker was down.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from monitoring import forecasting, jobs, selectors
from monitoring.alerts import delivery, evaluate
from monitoring.clinic_time import from_local_iso
from monitoring.forecasts.inputs import FUTURE_TOLERANCE, mark_inputs_changed
from monitoring.forecasts.scoring import score_forecast
from monitoring.models import Cycle, Forecast, LearnedPrior, Regimen


def fan_out_recomputes(cycle_ids: list[int]) -> int:
    """Split a fan-out task into one recompute task per cycle; recompute here what cannot be published.

    Returns how many were published.
    """
    published = jobs.publish_each(list(cycle_ids))
    for cycle_id in list(cycle_ids)[published:]:
        recompute_cycle(cycle_id)
    return published


def recompute_cycle(cycle_id: int, now: datetime | None = None) -> Forecast | None:
    """Recompute and store the cycle's forecast from every input known now.

    Idempotent and safe under concurrency: the stored forecast is replaced only by one
    made from a newer input version, under a row lock, so two recomputes racing for the
    same cycle end with the forecast that saw both results.
    """
    cycle = (
        Cycle.objects.select_related("course__regimen__learned_prior", "course__patient").filter(pk=cycle_id).first()
    )
    if cycle is None:
        return None
    version = cycle.input_version  # read before the inputs: a later change bumps it again
    # The clock is read after the version: every input the version counts was saved before
    # `now`, so its time is at most `now + FUTURE_TOLERANCE`, and the history reads that far.
    now = now or timezone.now()
    stored = Forecast.objects.filter(cycle_id=cycle_id).only("input_version", "inputs_digest").first()
    if stored is not None and stored.input_version >= version and version > 0:
        return stored  # a queued duplicate: an earlier task already used these inputs (burst dedup)
    history = selectors.forecast_history(cycle, as_of=now + FUTURE_TOLERANCE)
    learned = _learned_prior_parameters(cycle.course.regimen)
    population = forecasting.population_from_dict(learned) if learned else None
    digest = hashlib.sha256(json.dumps({"history": history, "prior": learned}, sort_keys=True).encode()).hexdigest()

    def run_engine() -> tuple[dict, str]:
        try:
            return forecasting.forecast_history(history, population), ""
        except forecasting.HistoryError as exc:
            return {}, str(exc)

    # Same inputs as the stored forecast (e.g. only a temperature changed): skip the engine.
    result, error = (None, "") if stored is not None and stored.inputs_digest == digest else run_engine()
    with transaction.atomic():
        Cycle.objects.select_for_update().get(pk=cycle_id)
        stored = Forecast.objects.filter(cycle_id=cycle_id).first()
        if stored is not None and stored.input_version > version:
            return stored  # a newer recompute already stored a fresher forecast
        if stored is not None and stored.inputs_digest == digest:
            # Same forecast inputs (e.g. a temperature was saved): mark it fresh, rerun the rules.
            stored.input_version = version
            stored.save(update_fields=["input_version"])
            evaluate.evaluate_locked(cycle, stored, now)
            return stored
        if result is None:  # the stored forecast changed under us since the first read
            result, error = run_engine()
        if stored is not None:
            score_forecast(stored, cycle, now)  # before it is replaced: the counts it predicted are in
        forecast = stored or Forecast(cycle=cycle)
        _fill_forecast(
            forecast, result, error, version=version, digest=digest, now=now, n_counts=len(history["counts"])
        )
        forecast.save()
        evaluate.evaluate_locked(cycle, forecast, now)
    return forecast


def _learned_prior_parameters(regimen: Regimen) -> dict | None:
    """Return the regimen's learned prior as stored, or None (it keeps its literature prior)."""
    try:
        return regimen.learned_prior.parameters
    except LearnedPrior.DoesNotExist:
        return None


def _fill_forecast(
    forecast: Forecast, result: dict, error: str, *, version: int, digest: str, now: datetime, n_counts: int
) -> None:
    nadir = result.get("nadir") or {}
    readiness = result.get("readiness") or {}
    interval = nadir.get("interval80") or [None, None]
    forecast.input_version = version
    forecast.inputs_digest = digest
    forecast.n_counts = n_counts
    forecast.computed_at = now
    forecast.as_of = now
    forecast.error = error
    forecast.nadir_anc_1e9_per_l = nadir.get("anc")
    forecast.nadir_lo80, forecast.nadir_hi80 = interval
    forecast.nadir_at = from_local_iso(nadir["time"]) if nadir.get("time") else None
    forecast.nadir_day_of_cycle = nadir.get("day_of_cycle")
    forecast.p_grade4 = result.get("p_grade4")
    forecast.p_grade3plus = result.get("p_grade3plus")
    forecast.next_day1 = from_local_iso(readiness["next_day1"]) if readiness.get("next_day1") else None
    forecast.p_ready = readiness.get("p_anc_ge_threshold")
    forecast.ready_threshold_1e9_per_l = readiness.get("threshold")
    forecast.trajectory = result.get("trajectory", [])
    forecast.warnings = result.get("warnings", [])
    if forecast.first_nadir_anc_1e9_per_l is None:
        forecast.first_nadir_anc_1e9_per_l = forecast.nadir_anc_1e9_per_l
    next_count = result.get("next_count") or {}
    forecast.next_fbc_on = from_local_iso(next_count["time"]).date() if next_count.get("time") else None
    forecast.next_fbc_reason = next_count.get("reason", "")


def recompute_stale(limit: int = 1000, *, inline: bool = False) -> int:
    """Recompute every stale cycle and re-publish pending deliveries; return how many cycles were found.

    By default the recomputes are enqueued for the workers; with `inline=True`, or when the
    broker cannot be reached, they run here, one after the other, so the sweeper catches up
    even while Redis is down.
    """
    # A planned G-CSF (what-if applied) now overdue with none recorded: the forecast that assumed it is
    # out of date (selectors.engine_input leaves such a plan out), so it is made again without it.
    mark_inputs_changed(selectors.lapsed_gcsf_plan_cycle_ids(timezone.now()))
    ids = selectors.stale_cycle_ids(limit)
    published = 0 if inline else jobs.enqueue_recomputes(ids)
    for cycle_id in ids[published:]:
        recompute_cycle(cycle_id)
    # Deliveries whose task was lost with the broker go out again too (issue 16).
    delivery.redispatch_pending()
    return len(ids)
