"""The default triage table: the structure of the UKONS 24-hour triage tool, in our own words.

UKONS 24-hour triage tool (v3, 2025), for patients who have had systemic anticancer treatment in
about the last 6 weeks: each symptom graded green / amber / red. The wording below is ours, not the
tool's; a unit replaces it with its own (the rows are data, editable by administrators) and should
check it against the current tool. Loaded by migration 0019.
"""

from __future__ import annotations

# (name, green, amber, red)
DEFAULT_TABLE: list[tuple[str, str, str, str]] = [
    ("Fever", "Temperature 36.1-37.4 C and feels well",
     "Feels hot or shivery but no thermometer to hand",
     "Temperature 37.5 C or above, or 36.0 C or below, or feels generally unwell"),
    ("Rigors", "None", "Felt cold and shivery once, now settled", "Shaking chills (rigors), with or without a fever"),
    ("Signs of infection", "None", "Redness or discharge at a line site or wound, no fever",
     "Cough with coloured sputum, burning on passing urine, or a red hot line site, with feeling unwell"),
    ("Nausea", "Eating and drinking normally", "Eating less; drinking enough",
     "No food or fluid kept down for 24 hours"),
    ("Vomiting", "None", "Vomited 2-5 times in 24 hours", "Vomited 6 or more times in 24 hours"),
    ("Diarrhoea", "No more than 3 more stools a day than usual", "4-6 more stools a day than usual",
     "7 or more more stools a day than usual, or at night, or with blood"),
    ("Mucositis (sore mouth)", "Mild soreness, eating normally", "Painful, eating and drinking less",
     "Unable to eat or drink, or bleeding from the mouth"),
    ("Bleeding or bruising", "None", "New bruising, or a nosebleed that stops",
     "Bleeding that does not stop, blood in urine, stool or vomit"),
    ("Breathlessness", "No change", "Short of breath on moderate effort",
     "Short of breath at rest, or new chest pain"),
    ("Pain", "Controlled by usual painkillers", "New pain, or not controlled by usual painkillers",
     "Severe new pain, or pain with a fever"),
    ("Fatigue", "Usual activities", "Rests more than half the day", "Bed-bound or unable to care for self"),
    ("Confusion or drowsiness", "None", "More forgetful than usual", "New confusion, drowsiness or a fit"),
    ("Rash or skin", "Mild rash, no other symptoms", "Rash over a large area, or itchy and sore",
     "Rash with a fever, blistering or peeling skin"),
    ("Urine output", "Passing urine as usual", "Passing less urine than usual",
     "Not passed urine for 12 hours or more"),
]
