"""Recompute every stale forecast: one whose cycle's inputs changed after it was made.

    python manage.py recompute_stale            # enqueue for the workers; runs them here if
                                                # the broker cannot be reached
    python manage.py recompute_stale --inline   # recompute here, without the broker

The Celery beat job `recompute-stale` does the same every 5 minutes. After a broker outage,
results saved meanwhile are stored but their forecasts are stale; this command (or the beat
job once Redis is back) brings every one of them up to date and runs the alert rules.
"""

from django.core.management.base import BaseCommand

from monitoring import forecasts, selectors


class Command(BaseCommand):
    help = "Recompute every stale cycle forecast (enqueue, or inline with --inline or when the broker is down)."

    def add_arguments(self, parser):
        parser.add_argument("--inline", action="store_true", help="recompute in this process, not in the workers")
        parser.add_argument("--limit", type=int, default=10000, help="at most this many cycles (oldest first)")

    def handle(self, *args, inline: bool, limit: int, **options):
        found = forecasts.recompute_stale(limit, inline=inline)
        still_stale = len(selectors.stale_cycle_ids(limit))
        how = "recomputed here" if inline else "enqueued (recomputed here if the broker was down)"
        self.stdout.write(f"{found} stale cycle(s) {how}; {still_stale} stale right now.")
