"""The app's URLs plus one view that fails, to see the 500 page (test_error_pages)."""
from django.urls import path

from neutrowatch.urls import urlpatterns as app_urlpatterns


def broken(request):
    raise RuntimeError("a bug")


urlpatterns = [path("broken/", broken), *app_urlpatterns]
