"""Data entry: patients, courses and cycles, counts, G-CSF doses, temperatures."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone

from monitoring import alerts, forms, records, treatment
from monitoring.guards import text
from monitoring.models import AccessLog, CountResult, Cycle, Patient, RegistrationRequest, TreatmentCourse
from monitoring.models.results import Source
from monitoring.views import lookups, patient_for, races

FORM = AccessLog.Action.FORM  # every form page of a patient is a read of the record
REGISTRATIONS_SHOWN_FOR = timedelta(days=30)  # the new-patient page lists the nurse's requests this long


def _form_page(request, form, title: str, patient=None, submit: str = "Save"):
    return render(request, "monitoring/form.html", {"form": form, "title": title, "patient": patient, "submit": submit})


def patient_new(request):
    """Keep a new patient as a registration request for an administrator (issue 25 item 5).

    An unused MRN and one registered in another team get the same answer, so the form tells no one
    which MRNs exist elsewhere; nothing typed is lost, and no MRN is ever registered twice.
    """
    form = forms.PatientForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        mrn = form.cleaned_data["mrn"]
        records.request_registration(mrn, form.typed_values(), form.cleaned_data["team"], request.user)
        messages.success(request, f"Registration of MRN {mrn} sent to an administrator. The patient appears in "
                                  "your list once it is registered; everything you typed is kept with the request.")
        return redirect("patient_new")
    if request.method == "POST" and (twin := _same_patient(request, form)) is not None:
        messages.info(request, f"Patient {twin.mrn} was already recorded: nothing added.")
        return redirect(twin)
    return render(request, "monitoring/form.html", {
        "form": form, "title": "New patient", "submit": "Send for registration",
        "registrations": _registrations(request.user)})


def _registrations(user) -> dict:
    """Return the nurse's own recent registration requests.

    Only her own requests (what she typed and what was decided), so the list tells no one which MRNs
    exist elsewhere; an administrator resolves them in the admin site (how many wait: the
    `registrations_waiting` context processor, on every page she opens).
    """
    since = timezone.now() - REGISTRATIONS_SHOWN_FOR
    mine = list(RegistrationRequest.objects.filter(requested_by=user, requested_at__gte=since)
                .select_related("team", "patient")[:20])
    return {"mine": mine}


def _same_patient(request, form) -> Patient | None:
    """Return the patient of the user's teams this refused form would have created (a second click), or None."""
    mrn = (request.POST.get("mrn") or "").strip()
    if set(form.errors) != {"mrn"} or text.control_character(mrn) is not None:
        return None
    data = form.cleaned_data
    return Patient.objects.visible_to(request.user).filter(
        mrn=mrn, given_name=data.get("given_name"),
        family_name=data.get("family_name"), date_of_birth=data.get("date_of_birth"),
    ).first()


def patient_edit(request, pk: int):
    patient = patient_for(request, pk, FORM)
    form = forms.PatientForm(request.POST or None, instance=patient, user=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()  # the MRN cannot change here (forms.PatientForm), so no unique constraint can be met
        messages.success(request, "Patient details saved.")
        return redirect(patient)
    return _form_page(request, form, f"Edit {patient}", patient)


def _record_once(request, write, *args, already: str, done, **kwargs):
    """Store what a form says and say so; a form sent twice (a double click) is stored once and says `already`.

    `done` makes the message from what was stored. Returns what was stored, or None if it was already.
    """
    stored = races.unless_recorded(write, *args, **kwargs)
    if stored is None:
        messages.info(request, already)
    else:
        messages.success(request, done(stored))
    return stored


def count_new(request, pk: int):
    patient = patient_for(request, pk, FORM)
    form = forms.CountForm(request.POST or None, patient=patient, initial={"collected_at": timezone.localtime()})
    if request.method == "POST" and form.is_valid():
        count = form.count
        _record_once(request, records.record_count, patient, count, source=Source.MANUAL, user=request.user,
                     already="This count was already recorded (same time and value): nothing added.",
                     done=lambda _: f"Count recorded: ANC {count.qualifier}{count.anc_1e9_per_l} x10^9/L.")
        return redirect(patient)
    return _form_page(request, form, f"New blood count for {patient}", patient)


def count_edit(request, pk: int):
    counts = CountResult.objects.select_related("patient__team", "patient__responsible_nurse")
    result = lookups.team_record(request, counts, pk, lambda count: count.patient)
    patient = result.patient
    initial = {
        "collected_at": timezone.localtime(result.collected_at),
        "unit": "10^9/L",
        "anc": f"{result.qualifier}{result.anc_1e9_per_l.normalize():f}",  # a censored count stays censored
        "platelets": result.platelets_1e9_per_l,
        "accession": result.accession,
    }
    form = forms.CountForm(request.POST or None, patient=patient, instance=result, initial=initial)
    if request.method == "POST" and form.is_valid():
        records.correct_count(result, form.count, user=request.user)
        messages.success(request, "Count corrected; the previous value is kept in the record's history.")
        return redirect(patient)
    return _form_page(request, form, f"Correct blood count for {patient}", patient)


def gcsf_new(request, pk: int):
    patient = patient_for(request, pk, FORM)
    form = forms.GcsfForm(request.POST or None, patient=patient, initial={"given_at": timezone.localtime()})
    if request.method == "POST" and form.is_valid():
        _record_once(request, records.record_gcsf, patient, user=request.user, **form.fields_for_service(),
                     already="This G-CSF dose (same product and time) was already recorded.",
                     done=lambda _: "G-CSF dose recorded.")
        return redirect(patient)
    return _form_page(request, form, f"New G-CSF dose for {patient}", patient)


def temperature_new(request, pk: int):
    patient = patient_for(request, pk, FORM)
    form = forms.TemperatureForm(request.POST or None, patient=patient, initial={"taken_at": timezone.localtime()})
    if request.method == "POST" and form.is_valid():
        fields = form.fields_for_service()
        reading = _record_once(request, records.record_temperature, patient, user=request.user, **fields,
                               already=f"This temperature ({fields['temperature_c']} °C) was already recorded.",
                               done=lambda reading: f"Temperature recorded: {reading.temperature_c} °C.")
        if reading is not None and (late := alerts.late_entry_words(reading)):
            messages.warning(request, late)  # a fever entered late: what became of it, never silent
        return redirect(patient)
    return _form_page(request, form, f"New temperature for {patient}", patient)


def _require_treatment_rights(request) -> None:
    if not request.user.can_change_treatment:
        raise PermissionDenied("Only oncologists and administrators change regimens and cycles.")


def course_new(request, pk: int):
    patient = patient_for(request, pk, FORM)
    _require_treatment_rights(request)
    form = forms.CourseForm(request.POST or None, patient=patient)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if races.start_course_once(patient, data["regimen"], data["first_day1"], data["n_cycles"]) is None:
            messages.info(request, f"{data['regimen']} from this day 1 was already recorded: nothing added.")
        else:
            messages.success(request, f"{data['regimen']} planned: {data['n_cycles']} cycles.")
        return redirect(patient)
    return _form_page(request, form, f"Start a regimen for {patient}", patient)


def _cycle_for(request, pk: int) -> Cycle:
    cycles = Cycle.objects.select_related("course__regimen", "course__patient")
    return lookups.team_record(request, cycles, pk, lambda cycle: cycle.course.patient)


def cycle_give(request, pk: int):
    cycle = _cycle_for(request, pk)
    # The planned dose level (a what-if applied, views/whatif.py) is the form's starting dose.
    form = forms.GiveCycleForm(request.POST or None, cycle=cycle, initial={
        "given_at": timezone.localtime(), "dose_fraction": cycle.planned_dose_fraction})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        given = races.give_cycle_once(cycle, data["given_at"], data["dose_fraction"],
                                      override_reason=data["override_reason"], overridden=form.concerns)
        if given is None:
            messages.info(request, f"Cycle {cycle.number} was already recorded as given: nothing added.")
        else:
            messages.success(request, f"Cycle {cycle.number} recorded as given.")
        return redirect(cycle.course.patient)
    return _form_page(request, form, f"Give cycle {cycle.number}", cycle.course.patient)


def gcsf_decision(request, pk: int):
    """Record once per course that G-CSF is not indicated or was declined, with a reason."""
    course = lookups.team_record(request, TreatmentCourse.objects.select_related("patient"), pk,
                                 lambda course: course.patient)
    patient = course.patient
    form = forms.GcsfDecisionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            treatment.record_gcsf_decision(course, form.cleaned_data["decision"], form.cleaned_data["reason"],
                                           request.user)
        except ValueError as exc:
            form.add_error(None, f"Not recorded: {exc}.")
        else:
            messages.success(request, "G-CSF decision recorded for this course.")
            return redirect(patient)
    return _form_page(request, form, f"G-CSF for {course}: not indicated or declined", patient)


def cycle_delay(request, pk: int):
    cycle = _cycle_for(request, pk)
    _require_treatment_rights(request)
    form = forms.DelayCycleForm(request.POST or None, cycle=cycle)
    if request.method == "POST" and form.is_valid():
        if races.delay_cycle_once(cycle, form.cleaned_data["new_day1"], form.cleaned_data["reason"]) is None:
            messages.info(request, f"Cycle {cycle.number} was already delayed to this day 1: nothing changed.")
        else:
            messages.success(request, f"Cycle {cycle.number} delayed; later cycles moved with it.")
        return redirect(cycle.course.patient)
    return _form_page(request, form, f"Delay cycle {cycle.number}", cycle.course.patient)


urlpatterns = [
    path("patients/new/", patient_new, name="patient_new"),
    path("patients/<int:pk>/edit/", patient_edit, name="patient_edit"),
    path("patients/<int:pk>/counts/new/", count_new, name="count_new"),
    path("counts/<int:pk>/edit/", count_edit, name="count_edit"),
    path("patients/<int:pk>/gcsf/new/", gcsf_new, name="gcsf_new"),
    path("patients/<int:pk>/temperatures/new/", temperature_new, name="temperature_new"),
    path("patients/<int:pk>/courses/new/", course_new, name="course_new"),
    path("cycles/<int:pk>/give/", cycle_give, name="cycle_give"),
    path("cycles/<int:pk>/delay/", cycle_delay, name="cycle_delay"),
    path("courses/<int:pk>/gcsf-decision/", gcsf_decision, name="gcsf_decision"),
]
