"""What if: a regimen's population outlook and a patient's scenarios (G-CSF, dose, delay), out as FHIR.

The simulations live in the forecasting kernel (``forecasting/outlook.py``, ``forecasting/scenarios.py``);
this package reads what they need from the database and shapes what they return for the app.
"""
