"""Alert burden on the demo: alerts per patient-cycle by kind after `load_demo` and a sweep (issue 21).

Run on a scratch database: DATABASE_URL=sqlite:////tmp/burden.sqlite3 .venv/bin/python manage.py migrate,
then `... manage.py shell < bench/alert_burden.py` (prints a table; writes nothing else).
"""

from collections import Counter

from django.core.management import call_command
from django.utils import timezone

from monitoring import alerts
from monitoring.models import Alert, Cycle

call_command("load_demo", password="burden-bench-password-1")
alerts.sweep(timezone.now())
cycles = Cycle.objects.filter(actual_day1__isnull=False).count()
by_kind = Counter(Alert.objects.values_list("kind", flat=True))
print(f"given patient-cycles: {cycles}; alerts: {sum(by_kind.values())} "
      f"({sum(by_kind.values()) / max(cycles, 1):.2f} per patient-cycle)")
for kind, n in sorted(by_kind.items()):
    print(f"{kind:24s} {n:4d} {n / max(cycles, 1):.3f}")
