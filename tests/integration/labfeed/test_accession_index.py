"""An import's accession look-up (across every patient) is served by an index, not a scan of all counts.

`importers.common._stored_by_key` filters counts by accession alone (the same accession stored for
another patient is refused), so the index must lead with the accession: the unique constraint on
(patient, accession) cannot serve it, and without one every import and every MLLP message scans
the whole table (40 ms at 100,000 counts, measured).
"""
import pytest
from django.db import connection

from monitoring.models import CountResult

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def test_an_index_leads_with_the_accession():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, CountResult._meta.db_table)
    leading = {name: c["columns"][0] for name, c in constraints.items() if c["index"] and c["columns"]}
    assert "accession" in leading.values(), leading
