"""Learn every regimen's forecast prior from the counts of its patients (empirical Bayes).

    python manage.py learn_priors

The Celery beat job `learn-regimen-priors` does the same once a day. A regimen needs at least
`MIN_PATIENTS` patients (monitoring/forecasting/population.py); the others keep their literature
prior. Forecasts of regimens whose prior changed are recomputed.
"""

from django.core.management.base import BaseCommand

from monitoring import forecasts
from monitoring.forecasting.population import MIN_PATIENTS


class Command(BaseCommand):
    help = "Learn regimen forecast priors from this clinic's patients and recompute the affected forecasts."

    def handle(self, *args, **options):
        learned = forecasts.learn_regimen_priors()
        if not learned:
            self.stdout.write(f"No regimen has {MIN_PATIENTS} or more patients yet; literature priors kept.")
        for code, patients in sorted(learned.items()):
            self.stdout.write(f"{code}: prior learned from {patients} patients")
