"""Guards at the edges (issue 25): input text, idle sessions, a person's last change, races on unique keys.

Each module owns one guard and is called from the edge it protects (a form, a middleware, a view,
the importers' record validation); none of them holds clinical rules.
"""
