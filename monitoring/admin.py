"""Admin pages for every model. Clinical records keep their history (django-simple-history);
the read-access log and delivery records cannot be edited from here. Every page that shows
patient data writes an access-log entry (monitoring/admin_audit.py); a patient is picked by id
(raw_id_fields), never from a drop-down that would list every patient of the hospital."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from simple_history.admin import SimpleHistoryAdmin

from monitoring import models, records
from monitoring.admin_audit import AuditedReadsAdmin
from monitoring.guards.text import RefuseControlCharacters


class GuardedForm(RefuseControlCharacters, forms.ModelForm):
    """Admin forms refuse control characters in any field, as the app's forms do (issue 25)."""


@admin.register(models.Team)
class TeamAdmin(admin.ModelAdmin):
    form = GuardedForm
    list_display = ["name", "on_call_phone", "escalation_email", "webhook_url"]
    search_fields = ["name"]


@admin.register(models.User)
class NeutroWatchUserAdmin(UserAdmin):
    list_display = ["username", "first_name", "last_name", "role", "is_active"]
    list_filter = ["role", "teams", "is_active"]
    fieldsets = [*UserAdmin.fieldsets, ("NeutroWatch", {"fields": ["role", "teams"]})]
    add_fieldsets = [*UserAdmin.add_fieldsets, ("NeutroWatch", {"fields": ["role", "teams"]})]
    actions = ["deactivate"]
    # Administrators hold NeutroWatch's permissions (the Administrators group, from their role); a superuser
    # holds every permission there is (groups, users' own permissions, the log-in throttle's records).
    # Only a superuser makes another or hands out permissions one by one.
    SUPERUSER_ONLY_FIELDS = ["is_superuser", "groups", "user_permissions"]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return fields if request.user.is_superuser else [*fields, *self.SUPERUSER_ONLY_FIELDS]

    # Users are deactivated, never deleted, once the audit trail names them (it would lose its actor).
    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or not obj.has_audit_rows())

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # bulk delete would skip the per-user check
        return actions

    @admin.action(description="Deactivate selected users (they can no longer log in; their records stay)")
    def deactivate(self, request, queryset):
        for user in queryset.filter(is_active=True):
            user.is_active = False
            user.save(update_fields=["is_active"])
        self.message_user(request, "Deactivated. Their audit records keep their name.")


@admin.register(models.Patient)
class PatientAdmin(AuditedReadsAdmin, SimpleHistoryAdmin):
    form = GuardedForm
    list_display = ["mrn", "family_name", "given_name", "team", "responsible_nurse", "active"]
    list_filter = ["team", "active"]
    search_fields = ["mrn", "family_name", "given_name"]


@admin.register(models.Regimen)
class RegimenAdmin(SimpleHistoryAdmin):
    form = GuardedForm
    list_display = ["code", "name", "cycle_length_days", "fn_risk", "gcsf_recommendation", "next_cycle_anc_1e9_per_l",
                    "infusion_hours"]
    list_filter = ["fn_risk", "gcsf_recommendation"]
    search_fields = ["code", "name", "drugs"]


class CycleInline(admin.TabularInline):
    model = models.Cycle
    extra = 0
    fields = ["number", "planned_day1", "original_planned_day1", "actual_day1", "status", "delay_reason"]
    readonly_fields = ["original_planned_day1"]


@admin.register(models.TreatmentCourse)
class TreatmentCourseAdmin(AuditedReadsAdmin, SimpleHistoryAdmin):
    form = GuardedForm
    raw_id_fields = ["patient"]
    list_display = ["patient", "regimen", "started_on", "active"]
    list_filter = ["regimen", "active"]
    inlines = [CycleInline]


class AdministrationInline(admin.TabularInline):
    model = models.ChemoAdministration
    extra = 0


@admin.register(models.Cycle)
class CycleAdmin(AuditedReadsAdmin, SimpleHistoryAdmin):
    form = GuardedForm
    list_display = ["course", "number", "planned_day1", "actual_day1", "status"]
    list_filter = ["status"]
    inlines = [AdministrationInline]


@admin.register(models.CountResult)
class CountResultAdmin(AuditedReadsAdmin, SimpleHistoryAdmin):
    form = GuardedForm
    raw_id_fields = ["patient"]
    list_display = [
        "patient",
        "collected_at",
        "anc_1e9_per_l",
        "ctcae_grade",
        "entered_value",
        "entered_unit",
        "source",
    ]
    list_filter = ["source", "ctcae_grade"]
    search_fields = ["patient__mrn", "accession"]
    readonly_fields = ["ctcae_grade", "entered_at"]


@admin.register(models.GcsfDose)
class GcsfDoseAdmin(AuditedReadsAdmin, SimpleHistoryAdmin):
    form = GuardedForm
    raw_id_fields = ["patient"]
    list_display = ["patient", "product", "product_name", "dose", "dose_unit", "given_at"]
    list_filter = ["product"]


@admin.register(models.TemperatureReading)
class TemperatureReadingAdmin(AuditedReadsAdmin, SimpleHistoryAdmin):
    form = GuardedForm
    raw_id_fields = ["patient"]
    list_display = ["patient", "taken_at", "temperature_c", "entered_value", "entered_unit", "site"]


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(models.Forecast)
class ForecastAdmin(AuditedReadsAdmin, ReadOnlyAdmin):
    list_display = ["cycle", "input_version", "computed_at", "nadir_anc_1e9_per_l", "p_grade4", "p_ready"]


@admin.register(models.LearnedPrior)
class LearnedPriorAdmin(ReadOnlyAdmin):
    list_display = ["regimen", "patients", "informative", "learned_at"]


@admin.register(models.Alert)
class AlertAdmin(AuditedReadsAdmin, SimpleHistoryAdmin, ReadOnlyAdmin):
    list_display = ["patient", "kind", "severity", "raised_at", "acknowledged_at", "resolved_at"]
    list_filter = ["kind", "severity"]


@admin.register(models.Delivery)
class DeliveryAdmin(AuditedReadsAdmin, ReadOnlyAdmin):
    list_display = ["alert", "channel", "recipient", "status", "attempts", "created_at", "sent_at"]
    list_filter = ["channel", "status"]


@admin.register(models.AccessLog)
class AccessLogAdmin(AuditedReadsAdmin, ReadOnlyAdmin):
    list_display = ["at", "user", "token", "action", "patient", "requested_id", "path"]
    list_filter = ["action"]


@admin.register(models.ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    form = GuardedForm
    list_display = ["name", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "token_hash", "created_at", "last_used_at"]
    fields = ["name", "teams", "prefix", "created_at", "last_used_at", "revoked_at"]

    def has_add_permission(self, request):
        return False  # tokens are issued by `manage.py create_api_token`, which shows the secret once


@admin.register(models.Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    """Read-only: when each background component last reported in (written by beat and the workers)."""

    list_display = ["component", "beaten_at", "hostname"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(models.ImportException)
class ImportExceptionAdmin(AuditedReadsAdmin, SimpleHistoryAdmin):
    """Lab records kept for review; they are fixed, re-tried or dismissed at /import/exceptions/."""

    list_display = ["received_at", "source", "location", "mrn", "patient", "kind", "status"]
    list_filter = ["status", "kind", "source"]
    search_fields = ["mrn", "file_name"]
    readonly_fields = [f.name for f in models.ImportException._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(models.RegistrationRequest)
class RegistrationRequestAdmin(AuditedReadsAdmin, SimpleHistoryAdmin):
    """New patients as nurses typed them (the new-patient form): register each, or refuse it with a note."""

    list_display = ["requested_at", "mrn", "team", "requested_by", "status", "patient"]
    list_filter = ["status", "team"]
    search_fields = ["mrn"]
    readonly_fields = [f.name for f in models.RegistrationRequest._meta.fields if f.name != "resolution_note"]
    actions = ["register", "refuse"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Register the selected patients (never a second patient with the same MRN)")
    def register(self, request, queryset):
        for registration in queryset.filter(status=models.RegistrationRequest.Status.OPEN):
            done, words = records.register_from_request(registration.pk, request.user,
                                                        registration.resolution_note)
            self.message_user(request, words, messages.SUCCESS if done else messages.WARNING)

    @admin.action(description="Refuse the selected requests (write the note for the nurse first)")
    def refuse(self, request, queryset):
        for registration in queryset:
            records.refuse_request(registration.pk, request.user,
                                   registration.resolution_note or "Refused by an administrator: ask them why.")
        self.message_user(request, "Refused.")


# --- Rotas, escalation chains and telephone triage (docs/on-duty.md) ------------------------------


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
class AlertEscalationAdmin(AuditedReadsAdmin, ReadOnly):
    list_display = ["alert", "round", "started_at", "held_until", "stopped_at", "stop_reason", "reached_nobody"]


@admin.register(models.EscalationTimer)
class EscalationTimerAdmin(AuditedReadsAdmin, ReadOnly):
    list_display = ["alert", "round", "step", "attempt", "target", "due_at", "fired_at", "cancelled_at", "note"]


@admin.register(models.TriageCall)
class TriageCallAdmin(AuditedReadsAdmin, ReadOnly):
    list_display = ["called_at", "patient", "taken_by", "outcome", "follow_up_due", "follow_up_done_at"]
