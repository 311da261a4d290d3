"""Calibration in the clinic: score each stored forecast against the counts collected after it."""

from __future__ import annotations

import bisect
import math
from datetime import datetime

from scipy.special import ndtr

from monitoring.clinic_time import from_local_iso
from monitoring.models import CountResult, Cycle, Forecast, ForecastScore

# The trajectory band is the 10th-90th percentile: a log-normal with this many SDs each side.
Z80 = 1.2815515655446004


def score_forecast(forecast: Forecast, cycle: Cycle, now: datetime) -> int:
    """Score a stored forecast against every count collected after it was made; return how many.

    Each count inside the forecast's trajectory gets one ForecastScore (idempotent): inside the
    80 % band or not, the PIT value (the forecast's probability of a count at or below it, reading
    the band as a log-normal), and the log10 error of the median.
    """
    trajectory = forecast.trajectory or []
    if forecast.error or len(trajectory) < 2:
        return 0
    times = [from_local_iso(point["time"]) for point in trajectory]
    counts = CountResult.objects.filter(
        patient_id=cycle.course.patient_id, collected_at__gt=forecast.as_of,
        collected_at__gte=times[0], collected_at__lte=min(times[-1], now),
    )
    scores = [_score(forecast, cycle, count, times, now) for count in counts]
    ForecastScore.objects.bulk_create(scores, ignore_conflicts=True)
    return len(scores)


def _score(forecast: Forecast, cycle: Cycle, count: CountResult, times: list[datetime], now: datetime) -> ForecastScore:
    trajectory = forecast.trajectory
    right = max(1, bisect.bisect_left(times, count.collected_at))
    left = right - 1
    share = (count.collected_at - times[left]) / (times[right] - times[left])

    def log_at(key: str) -> float:
        # Interpolate on the log scale, as the band is log-normal-ish.
        low, high = math.log(trajectory[left][key]), math.log(trajectory[right][key])
        return low + share * (high - low)

    median, lo80, hi80 = (log_at(key) for key in ("anc", "lo80", "hi80"))
    observed = max(float(count.anc_1e9_per_l), 0.001)
    spread = max((hi80 - lo80) / (2 * Z80), 1e-3)
    return ForecastScore(
        cycle=cycle, regimen_id=cycle.course.regimen_id, count=count, forecast_as_of=forecast.as_of,
        horizon_hours=(count.collected_at - forecast.as_of).total_seconds() / 3600,
        observed_anc_1e9_per_l=observed, predicted_anc_1e9_per_l=math.exp(median),
        lo80=math.exp(lo80), hi80=math.exp(hi80), inside80=lo80 <= math.log(observed) <= hi80,
        pit=float(ndtr((math.log(observed) - median) / spread)),
        log10_error=(median - math.log(observed)) / math.log(10),
        p_grade4=forecast.p_grade4, scored_at=now,
    )
