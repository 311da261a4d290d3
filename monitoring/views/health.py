"""/healthz for the hospital's monitoring: database, broker and worker heartbeat; no login, no patient data."""

from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.urls import path
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from monitoring import health


@login_not_required
@never_cache
@require_GET
def healthz(request):
    report, healthy = health.health_report()
    return JsonResponse(report, status=200 if healthy else 503)


urlpatterns = [path("healthz", healthz, name="healthz")]
