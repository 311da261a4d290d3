from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path


@login_not_required
def favicon(request: HttpRequest) -> HttpResponsePermanentRedirect:
    """Send /favicon.ico (asked for by browsers on every page, the admin's too) to the static icon."""
    return HttpResponsePermanentRedirect(static("favicon.ico"))


urlpatterns = [
    path("favicon.ico", favicon),
    path("admin/", admin.site.urls),
    path("", include("monitoring.urls")),
]
