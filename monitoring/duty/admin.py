"""Admin pages of the duty and triage models (registered by an import in monitoring/admin.py).

Administrators edit the triage table, escalation chains, quiet hours and fallback contacts here;
the rota itself is edited on the rota page as well. Running escalations and calls are read-only.
"""

from django.contrib import admin

from monitoring import models


class StepInline(admin.TabularInline):
    model = models.EscalationStep
    extra = 1


@admin.register(models.EscalationChain)
class EscalationChainAdmin(admin.ModelAdmin):
    list_display = ["team", "severity", "repeat_times", "repeat_after_minutes"]
    list_filter = ["team"]
    inlines = [StepInline]


@admin.register(models.TeamDuty)
class TeamDutyAdmin(admin.ModelAdmin):
    list_display = ["team", "fallback_email", "fallback_phone", "quiet_start", "quiet_end"]
    filter_horizontal = ["leads"]


@admin.register(models.DutyContact)
class DutyContactAdmin(admin.ModelAdmin):
    list_display = ["user", "mobile"]


@admin.register(models.ShiftPattern)
class ShiftPatternAdmin(admin.ModelAdmin):
    list_display = ["team", "weekday", "starts", "ends", "user", "role"]
    list_filter = ["team", "weekday", "role"]


@admin.register(models.RotaOverride)
class RotaOverrideAdmin(admin.ModelAdmin):
    list_display = ["team", "starts_at", "ends_at", "user", "replaces", "reason"]
    list_filter = ["team"]


@admin.register(models.TriageSymptom)
class TriageSymptomAdmin(admin.ModelAdmin):
    """The unit's triage table: rows and their green / amber / red criteria."""

    list_display = ["position", "name", "green", "amber", "red", "active"]
    list_display_links = ["name"]
    list_editable = ["position", "active"]


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(models.AlertEscalation)
class AlertEscalationAdmin(ReadOnly):
    list_display = ["alert", "round", "started_at", "held_until", "stopped_at", "stop_reason", "reached_nobody"]


@admin.register(models.EscalationTimer)
class EscalationTimerAdmin(ReadOnly):
    list_display = ["alert", "round", "step", "attempt", "target", "due_at", "fired_at", "cancelled_at", "note"]


@admin.register(models.TriageCall)
class TriageCallAdmin(ReadOnly):
    list_display = ["called_at", "patient", "taken_by", "outcome", "follow_up_due", "follow_up_done_at"]
