"""Issue 21 over HL7 v2 and MLLP: a grade 3 that becomes grade 4 raises the graver alert, linked.

The real listener subprocess on a real socket (PostgreSQL only, like the listener's own tests).
"""

from __future__ import annotations

import pytest

from monitoring.models import Alert, AlertEvent
from tests.conftest import start_on_regimen
from tests.integration.labfeed.mllp_client import Client, code, oru

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_grade3_then_grade4_over_mllp_replaces_the_grade3_alert_with_a_linked_critical(listener, team,
                                                                                       nurse, regimens):
    from tests.conftest import make_patient

    patient = make_patient(team, mrn="MLLP21", nurse=nurse)
    start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=8)
    client = Client(listener)
    assert code(client.send(oru("L21-1", mrn="MLLP21", value="0.8", hours_ago=5))) == "AA"
    grade3 = Alert.objects.get(patient=patient, kind=Alert.Kind.GRADE3_OBSERVED)

    assert code(client.send(oru("L21-2", mrn="MLLP21", value="0.3", hours_ago=1))) == "AA"
    client.close()

    grade3.refresh_from_db()
    grade4 = Alert.objects.get(patient=patient, kind=Alert.Kind.GRADE4_OBSERVED)
    assert grade3.resolved_at is not None and grade3.superseded_by_id == grade4.pk
    assert grade4.severity == Alert.Severity.CRITICAL and grade4.acknowledged_at is None
    assert grade4.message.startswith("Worse: Grade 3 neutropenia observed (ANC 0.8")
    assert "-> ANC 0.3" in grade4.message
    assert grade4.events.filter(kind=AlertEvent.Kind.WORSENED).exists()
    assert grade3.events.filter(kind=AlertEvent.Kind.SUPERSEDED).exists()
