"""Placeholder route list; filled in by the api work."""
urlpatterns: list = []
