"""One truth on every screen (issue 22): each demo patient's ward row says what their patient page says.

The ward row and the patient page's header are drawn by different selectors and templates (the
ward reads 300 patients at once). For every demo patient, as the demo oncologist sees them, the
two screens must agree on the last count and its grade, the cycle and its day, the predicted nadir,
its day and P(grade 4), the next blood count, next-cycle readiness, the most urgent live alert and
whether the forecast is being recomputed.
"""

from __future__ import annotations

import re
from html import unescape
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from monitoring.models import Patient

pytestmark = pytest.mark.django_db


def text(html: str) -> str:
    """Return the words a reader sees in a piece of HTML (tags and hidden helper text dropped)."""
    html = re.sub(r'<span class="visually-hidden">.*?</span>', " ", html, flags=re.S)
    html = re.sub(r"<(form|script|button)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def ward_rows(html: str) -> dict[int, dict[str, str]]:
    """Return {patient pk: {column label: its text}} from the ward table."""
    rows = {}
    for match in re.finditer(r'<tr class="risk-row[^"]*" data-patient="(\d+)">(.*?)</tr>', html, re.S):
        cells = re.findall(r'<td class="c-(\w+)"[^>]*>(.*?)</td>', match.group(2), re.S)
        rows[int(match.group(1))] = {name: text(cell) for name, cell in cells}
    return rows


def header_facts(html: str) -> dict[str, str]:
    """Return {fact title: its text} from the patient page's header."""
    head = re.search(r'<section class="card patient-head">(.*?)</section>', html, re.S).group(1)
    return {text(title): text(value)
            for title, value in re.findall(r"<dt>(.*?)</dt>\s*<dd[^>]*>(.*?)</dd>", head, re.S)}


def first(pattern: str, words: str) -> str | None:
    found = re.search(pattern, words)
    return found.group(1) if found else None


ANC = r"^([<>]?\d+(?:\.\d+)?)"
GRADE = r"(Grade \d[^)]*\)|Normal|Below normal[^)]*\))"
CYCLE_DAY = r"Cycle (\d+), day (\d+)"
NADIR = r"^(\d+\.\d+)"
NADIR_DATE = r"((?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{2} \w{3})"
P_GRADE4 = r"P\(grade 4\) (\d+ %|<\s?\d+ %|>\s?\d+ %)"
NEXT_FBC = r"next FBC: (\w{3} \d{1,2} \w{3})"


def test_every_demo_patients_ward_row_says_what_their_page_says(client):
    call_command("load_demo", password="demo-password-1", replay=False, stdout=StringIO())
    oncologist = Patient.objects.get(mrn="DEMO-0001").team.members.get(username="oncologist")
    client.force_login(oncologist)
    rows = ward_rows(client.get(reverse("ward")).content.decode())
    patients = Patient.objects.filter(pk__in=rows).order_by("mrn")
    assert len(rows) >= 20 and patients.count() == len(rows)

    compared = {"anc": 0, "cycle": 0, "nadir": 0, "fbc": 0, "ready": 0, "alert": 0}
    for patient in patients:
        row = rows[patient.pk]
        html = client.get(reverse("patient", args=[patient.pk])).content.decode()
        facts = header_facts(html)
        who = patient.mrn

        # The last count and its grade.
        if row["anc"] == "No counts":
            assert facts["Last ANC"] == "No counts", who
        else:
            assert first(ANC, row["anc"]) == first(ANC, facts["Last ANC"]), (who, row["anc"], facts["Last ANC"])
            assert first(GRADE, row["anc"]) == first(GRADE, facts["Last ANC"]), (who, row["anc"], facts["Last ANC"])
            compared["anc"] += 1

        # The cycle and its day.
        ward_day = re.search(CYCLE_DAY, row["regimen"])
        page_day = re.search(r"^(\d+), day (\d+)", facts["Cycle"])
        assert bool(ward_day) == bool(page_day), (who, row["regimen"], facts["Cycle"])
        if ward_day:
            assert ward_day.groups() == page_day.groups(), (who, row["regimen"], facts["Cycle"])
            compared["cycle"] += 1

        # The forecast: nadir, its date, P(grade 4), next blood count, and whether it is out of date.
        nadir, page_nadir = row["nadir"], facts["Predicted nadir"]
        assert first(NADIR, nadir) == first(NADIR, page_nadir), (who, nadir, page_nadir)
        if first(NADIR, nadir):
            assert first(NADIR_DATE, nadir) == first(NADIR_DATE, page_nadir), (who, nadir, page_nadir)
            assert first(P_GRADE4, nadir) == first(P_GRADE4, page_nadir), (who, nadir, page_nadir)
            compared["nadir"] += 1
        assert first(NEXT_FBC, nadir) == first(NEXT_FBC, page_nadir), (who, nadir, page_nadir)
        compared["fbc"] += first(NEXT_FBC, nadir) is not None
        assert ("Out of date" in nadir) == ('data-state="stale"' in html), who

        # Next-cycle readiness in words.
        ward_ready, page_ready = row["next"], facts["Next cycle"]
        if ward_ready == "–":
            assert page_ready == "–", (who, page_ready)
        else:
            # "Likely ready Thu 10 Dec, ANC ≥ 1.5" and "Likely ready Thu 10 Dec, needs ANC ≥ 1.5"
            assert ward_ready.split(",")[0] == page_ready.split(",")[0], (who, ward_ready, page_ready)
            assert first(r"ANC ≥ ([\d.]+)", ward_ready) == first(r"ANC ≥ ([\d.]+)", page_ready), who
            compared["ready"] += 1

        # The most urgent live alert: the same one, in the same words.
        if row["alert"] == "No open alert":
            assert facts["Open alerts"] == "None", (who, facts["Open alerts"])
        else:
            assert facts["Open alerts"] != "None", (who, row["alert"])
            page_headline = facts["Open alerts"].split(" ", 1)[1]  # after the severity word
            ward_headline = row["alert"].split(" ", 1)[1]
            assert page_headline.startswith(ward_headline.split(" +")[0].split(" In hand")[0]), (
                who, row["alert"], facts["Open alerts"])
            compared["alert"] += 1

    # Every kind of fact was compared on several patients (the demo has all of them).
    assert all(n >= 3 for n in compared.values()), compared



def test_two_results_collected_at_the_same_moment_read_the_same_on_both_screens(nurse_client, patient, regimens):
    # Two specimens labelled with one time (or a weekly regimen's day 15 and the next cycle's day 8):
    # the one received last is the latest, on the ward and the patient page alike, whatever the
    # order the database returns them in.
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from monitoring import clinical, records
    from tests.conftest import start_on_regimen

    start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=5)
    at = timezone.now() - timedelta(hours=3)
    for anc in ("4.95", "3.07"):
        records.record_count(patient, clinical.parse_count(collected_at=at, unit="10^9/L", anc=Decimal(anc)))
    row = ward_rows(nurse_client.get(reverse("ward")).content.decode())[patient.pk]
    facts = header_facts(nurse_client.get(reverse("patient", args=[patient.pk])).content.decode())
    assert first(ANC, row["anc"]) == first(ANC, facts["Last ANC"]) == "3.07"


def test_after_a_febrile_neutropenia_nobody_has_seen_both_screens_ask_for_the_oncologists_review(
        nurse_client, team, regimens):
    # The fever settled (the alert cleared) but nobody acknowledged it: the header said "Oncologist review
    # after febrile neutropenia" while the ward's row said the forecast's "Likely ready".
    from django.utils import timezone

    from monitoring.models import Alert
    from tests.story import build_story_patient, raise_alert

    patient, cycles = build_story_patient(team, regimens)
    raise_alert(patient, cycles[2], kind=Alert.Kind.FEBRILE_NEUTROPENIA, severity=Alert.Severity.CRITICAL,
                cleared_at=timezone.now())
    row = ward_rows(nurse_client.get(reverse("ward")).content.decode())[patient.pk]
    facts = header_facts(nurse_client.get(reverse("patient", args=[patient.pk])).content.decode())
    assert facts["Next cycle"].startswith("Oncologist review after febrile neutropenia")
    assert row["next"].startswith("Oncologist review after febrile neutropenia"), row["next"]
