"""Telephone triage (issue 24 item 5): the unit's triage table, the outcome rule, the call log.

rules.py (pure: grades to outcome), calls.py (record a call: the temperature through the
readings write path, a red outcome as a critical alert through the escalation chain),
defaults.py (the default table, loaded by migration 0019).
"""
