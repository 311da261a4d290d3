"""Day of cycle: the one definition every screen, rule and export uses (issue 22).

Day N of a cycle is a calendar day in clinic time: the calendar day on which the day-1 dose was
given is day 1, the next calendar day is day 2, and so on, whatever the clock time of the dose.
A dose at 14:00 and a count at 09:00 the next morning: the count is on day 2, as a nurse counts
on the calendar and as protocols ("FBC on day 8") mean it, not "day 1.8".

Pure functions: the clinic's zone is passed in (`timezone.get_current_timezone()` in Django code,
`CycleFacts.clinic_tz` in the alert rules), so this module needs no settings and no clock.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo


def day_of_cycle(moment: datetime, day1: datetime, tz: tzinfo) -> int:
    """Return the day of the cycle at `moment`; 0 or less before the cycle's first calendar day."""
    return (moment.astimezone(tz).date() - day1.astimezone(tz).date()).days + 1


def date_of_cycle_day(day1: datetime, day: int, tz: tzinfo) -> date:
    """Return the calendar date of day `day` of the cycle that starts at `day1`."""
    return day1.astimezone(tz).date() + timedelta(days=day - 1)


def start_of_cycle_day(day1: datetime, day: int, tz: tzinfo) -> datetime:
    """Return the clinic-time midnight at which day `day` of the cycle begins."""
    return datetime.combine(date_of_cycle_day(day1, day, tz), time(0), tzinfo=tz)


def cycle_day_position(moment: datetime, day1: datetime, tz: tzinfo) -> float:
    """Return where `moment` sits on a day-of-cycle axis: its day plus the share of that day gone.

    09:00 on day 3 is 3.375, so a chart's whole-number grid lines are the calendar's midnights and a
    point is drawn inside the day `day_of_cycle` gives it (the floor of its position).
    """
    local = moment.astimezone(tz)
    seconds = local.hour * 3600 + local.minute * 60 + local.second
    return day_of_cycle(moment, day1, tz) + seconds / 86400


def cycle_day_bounds(day1: datetime, first: int, last: int, tz: tzinfo) -> tuple[datetime, datetime]:
    """Return [start, end) of days `first` to `last` of the cycle: midnight to the midnight after."""
    return start_of_cycle_day(day1, first, tz), start_of_cycle_day(day1, last + 1, tz)
