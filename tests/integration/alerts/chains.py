"""An escalation chain for the duty tests: its steps, each a wait and a target."""

from __future__ import annotations

from monitoring.models import EscalationChain, EscalationStep


def chain(team, severity: int, steps, repeat_times: int = 0, repeat_after: int = 30) -> EscalationChain:
    made = EscalationChain.objects.create(team=team, severity=severity, repeat_times=repeat_times,
                                          repeat_after_minutes=repeat_after)
    for position, (wait, target) in enumerate(steps):
        EscalationStep.objects.create(chain=made, position=position, wait_minutes=wait, target=target)
    return made
