from django.contrib.auth import views as auth_views
from django.urls import path

from monitoring.views import (
    api,
    audit,
    calibration,
    dashboard,
    duty,
    entry,
    exceptions,
    freshness,
    health,
    imports,
    risk,
    whatif,
)

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    *dashboard.urlpatterns,
    *entry.urlpatterns,
    *imports.urlpatterns,
    *exceptions.urlpatterns,
    *api.urlpatterns,
    *risk.urlpatterns,
    *whatif.urlpatterns,
    *audit.urlpatterns,
    *health.urlpatterns,
    *calibration.urlpatterns,
    *duty.urlpatterns,
    *freshness.urlpatterns,
]
