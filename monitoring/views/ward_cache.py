"""The ward's rows, drawn at most once a second for everyone who sees the same ward (issue 25 item 7).

Twenty nurses keep the ward open while results arrive. Drawing its rows costs about 80 ms of CPU
for 300 patients (reading the tables, every cell's text, the markup), so twenty nurses asking every
few seconds used to fill two cores. The rows depend only on which teams the viewer sees and her
search (nothing in them depends on her role or her name), so they are drawn once, each row apart,
and shared by the web processes through the "ward" cache (Redis), under a key made of those; the
team, risk and open-alerts filters pick from them.

Freshness, the rule the nurse can rely on:
- rows are never older than WARD_ROWS_MAX_AGE_SECONDS (1 s): their reads began no earlier than
  that before the request. Time-dependent words (day of cycle, "3 h ago") are right to the second;
- rows are never older than the viewer's own last change (guards/writes.py): rows whose reads began
  before her last write finished are drawn again for her, so what she acknowledged or entered is
  on the ward she is sent back to.
One request draws while the others wait for it (up to DRAW_WAIT_SECONDS). Rows past half their
age are drawn again after one request's response has been sent (the others still use them), so
under a steady stream of nurses hardly anyone waits for a drawing.

Fail safe: if the cache is down, slow or answers nonsense, the rows are drawn directly (as before
this cache) and the cache is left alone for CACHE_DOWN_RETRY_SECONDS; never an error, never an
empty ward. With WARD_ROWS_MAX_AGE_SECONDS = 0 the cache is not used at all (the test settings).
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass, field, replace
from functools import lru_cache, partial

from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django.template import engines
from django.utils import timezone
from django.utils.translation import get_language

from monitoring import selectors
from monitoring.guards.writes import last_write_s

logger = logging.getLogger(__name__)

CACHE_ALIAS = "ward"
DRAW_WAIT_SECONDS = 2.0  # how long a request waits for another to draw the same rows, then draws them itself
POLL_SECONDS = 0.02
REFRESH_AHEAD = 0.5  # rows past this share of the max age are drawn again, after one request's response
CLAIM_SECONDS = 10  # a drawer that died lets go of its claim after this
CACHE_DOWN_RETRY_SECONDS = 5.0
# Each row's markup is the `ward_row` tag's (templatetags/ward.py), drawn through the template engine
# because views do not import template tags (the import contract keeps them independent); each is
# followed by ROW_END (which escaped text cannot contain), so the rows can be told apart and filtered.
# The `ward_rows` tag places them in the page.
ROW_END = "<!--nw-row-->"
ROWS_TEMPLATE = "{% load ward %}{% for line in lines %}{% ward_row line %}" + ROW_END + "{% endfor %}"

_cache_down_until = 0.0  # per process: after an error, the cache is left alone until then


@dataclass
class WardRows:
    """The ward's rows as shown: each row's `<tr>` markup and what the page around them needs."""

    rows: list[str]
    patient_ids: list[int]
    forecast_updating: bool
    # Work for after the response is sent (the view hands it to the response's closers): drawing the
    # rows ahead for the next viewers, so this one does not wait for it.
    after_response: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.patient_ids)


@dataclass
class DrawnWard:
    """Every row of a ward (the viewer's teams, her search), most urgent first, as drawn at `started_at`.

    Each row is (patient id, team id, risk, has live alerts, forecast updating, its `<tr>` markup): the
    team, risk and open-alerts filters pick from these (`selectors.shown`), so one drawing serves them all.
    """

    rows: list[tuple[int, int, str, bool, bool, str]]
    started_at: float  # seconds since the epoch when the reads began: the rows show no older state

    def shown(self, filters: selectors.WardFilters) -> WardRows:
        rows = [row for row in self.rows if selectors.shown(filters, *row[1:4])]
        return WardRows(rows=[row[5] for row in rows], patient_ids=[row[0] for row in rows],
                        forecast_updating=any(row[4] for row in rows))


def ward_rows(request, teams: list, filters: selectors.WardFilters, now) -> WardRows:
    """Return the ward's rows for this viewer: shared ones if fresh enough for her, else drawn anew."""
    max_age = settings.WARD_ROWS_MAX_AGE_SECONDS
    asked = _Request(request, filters, now)
    if max_age <= 0 or time.time() < _cache_down_until:
        return asked.draw().shown(filters)
    try:
        rows = _shared_rows(asked, _key(teams, filters), max_age).shown(filters)
        rows.after_response = asked.later
        return rows
    except Exception:  # the cache is down or broken: the ward is drawn as if there were none
        _cache_failed()
        return asked.draw().shown(filters)


def draw(user, search: str, now) -> DrawnWard:
    """Draw every row of the user's teams that matches the search, from the tables (5 queries)."""
    started_at = time.time()
    rows = selectors.ward_rows(user, selectors.WardFilters(search=search), now)
    lines = selectors.ward_lines(rows, now)
    markup = _rows_template().render({"lines": lines}).split(ROW_END)
    return DrawnWard([(row.patient.pk, row.patient.team_id, row.risk, row.has_alerts, bool(row.forecast_state), html)
                      for row, html in zip(rows, markup[:-1], strict=True)], started_at)


@dataclass(frozen=True)
class _Request:
    """What drawing the rows needs of the request."""

    request: object
    filters: selectors.WardFilters
    now: object
    later: list = field(default_factory=list)

    def draw(self) -> DrawnWard:
        return draw(self.request.user, self.filters.search, self.now)


def _shared_rows(asked: _Request, key: str, max_age: float) -> DrawnWard:
    cache = caches[CACHE_ALIAS]
    not_before = max(time.time() - max_age, last_write_s(asked.request))
    deadline = time.monotonic() + DRAW_WAIT_SECONDS
    entry = cache.get(key)
    while True:
        if isinstance(entry, DrawnWard) and entry.started_at >= not_before:
            if time.time() - entry.started_at > REFRESH_AHEAD * max_age and _claim(cache, key):
                asked.later.append(partial(_draw_ahead, cache, key, asked, max_age))  # for the next viewers
            return entry
        if _claim(cache, key):
            return _draw_and_share(cache, key, asked, max_age)
        if time.monotonic() > deadline:  # the drawer is slow or gone: the nurse does not wait longer
            return asked.draw()
        time.sleep(POLL_SECONDS)
        drawn_at = cache.get(f"{key}:at")
        entry = cache.get(key) if drawn_at is not None and drawn_at >= not_before else None


def _draw_and_share(cache, key: str, asked: _Request, max_age: float) -> DrawnWard:
    try:
        drawn = asked.draw()
    except BaseException:
        cache.delete(f"{key}:claim")
        raise
    try:
        keep = math.ceil(max_age) + 5  # long enough to be found, short enough not to linger
        cache.set_many({key: drawn, f"{key}:at": drawn.started_at}, timeout=keep)
        cache.delete(f"{key}:claim")
    except Exception:  # drawn already: shown, not drawn twice
        _cache_failed()
    return drawn


def _draw_ahead(cache, key: str, asked: _Request, max_age: float) -> None:
    """Draw the rows again after the response was sent (the clock read now); never raise."""
    try:
        _draw_and_share(cache, key, replace(asked, now=timezone.now()), max_age)
    except Exception:
        logger.exception("drawing the ward's rows ahead failed; the next request draws them")


def _claim(cache, key: str) -> bool:
    """Return True if this request is the one to draw the rows of `key` now (nobody else is)."""
    return bool(cache.add(f"{key}:claim", 1, timeout=CLAIM_SECONDS))


def _key(teams: list, filters: selectors.WardFilters) -> str:
    """Return the cache key of a ward: whose database, which teams, which search, how dates read.

    The team set is the viewer's (the one scoping rule, `Patient.objects.visible_to`, reads it), so
    two nurses share rows only if they see exactly the same teams. Nothing in the rows depends on
    the viewer's role or name; the language and time zone change how dates read. The other filters
    pick from the rows (`DrawnWard.shown`).
    """
    scope = ",".join(str(pk) for pk in sorted(team.pk for team in teams))
    described = "|".join((connection.settings_dict["NAME"] or "", scope, filters.search, get_language() or "",
                          timezone.get_current_timezone_name()))
    return "ward:" + hashlib.sha256(described.encode()).hexdigest()


def _cache_failed() -> None:
    """Leave the cache alone for a few seconds in this process; say so once."""
    global _cache_down_until
    if time.time() >= _cache_down_until:
        logger.warning("ward cache unavailable: drawing the ward's rows directly for %.0f s",
                       CACHE_DOWN_RETRY_SECONDS, exc_info=True)
    _cache_down_until = time.time() + CACHE_DOWN_RETRY_SECONDS


@lru_cache(maxsize=1)
def _rows_template():
    return engines["django"].from_string(ROWS_TEMPLATE)
