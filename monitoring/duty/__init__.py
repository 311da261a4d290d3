"""Who is on duty and how an alert escalates (issue 24).

rota.py (shift patterns, overrides, `on_duty`), chains.py (escalation chains, their snapshot, who
a step tells), timers.py (durable steps and the auditor), hooks.py (the calls alert raising and
acknowledgement make), tasks.py (thin Celery tasks).
"""
