"""Placeholder route list; filled in by the audit work."""
urlpatterns: list = []
