"""{% whatif_scenarios current as whatif %}: the current cycle's what-if scenarios for the patient page."""

from __future__ import annotations

from django import template
from django.utils import timezone

from monitoring.forecasts.whatif.scenarios import CycleScenarios, cycle_scenarios

register = template.Library()


@register.simple_tag
def whatif_scenarios(current) -> CycleScenarios | None:
    """Return the scenarios of the patient page's current cycle (a selectors.CycleData), or None."""
    if current is None:
        return None
    return cycle_scenarios(current.cycle, timezone.now())
