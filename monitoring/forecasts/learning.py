"""Learning each regimen's forecast prior from its own patients' counts (a beat job)."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Now
from django.utils import timezone

from monitoring import forecasting, jobs, selectors
from monitoring.models import Cycle, LearnedPrior, Regimen


def learn_regimen_priors(now: datetime | None = None) -> dict[str, int]:
    """Learn each regimen's forecast prior from its patients' counts; return {code: patients}.

    Every course on the regimen gives one history: its latest started cycle, with everything
    known now. A regimen with too few patients (``forecasting.population.MIN_PATIENTS``) keeps
    its literature prior, and loses a learned one it had. When a regimen's prior changes, the
    forecasts of its active cycles become stale and are recomputed (enqueued on commit; the
    stale sweeper catches up if the broker is down).
    """

    now = now or timezone.now()
    learned: dict[str, int] = {}
    for regimen in Regimen.objects.all():
        histories = [selectors.forecast_history(cycle, as_of=now) for cycle in selectors.learning_cycles(regimen, now)]
        populations = forecasting.learn_populations(histories)
        population = populations.get(forecasting.regimen_key(histories[0])) if histories else None
        with transaction.atomic():
            stored = LearnedPrior.objects.select_for_update().filter(regimen=regimen).first()
            if population is None:
                if stored is None:
                    continue
                stored.delete()
            else:
                learned[regimen.code] = population.patients
                parameters = forecasting.population_to_dict(population)
                if stored is not None and stored.parameters == parameters:
                    continue
                LearnedPrior.objects.update_or_create(
                    regimen=regimen,
                    defaults={"parameters": parameters, "patients": population.patients,
                              "informative": population.informative, "learned_at": now},
                )
            ids = list(
                Cycle.objects.filter(course__regimen=regimen, course__active=True)
                .exclude(status=Cycle.Status.CANCELLED)
                .values_list("pk", flat=True)
            )
            Cycle.objects.filter(pk__in=ids).update(input_version=F("input_version") + 1, inputs_changed_at=Now())
            transaction.on_commit(lambda ids=ids: jobs.enqueue_recomputes(ids))
    return learned
