"""Placeholder route list; filled in by the imports work."""
urlpatterns: list = []
