"""NeutroWatch settings, read from the environment.

Every value has a safe development default except SECRET_KEY, which is required
once DJANGO_DEBUG is off. Bad values fail loudly at start-up (django-environ raises
ImproperlyConfigured), never silently fall back.
"""
import ipaddress
from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=True)
if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key-do-not-use-in-production")
else:
    SECRET_KEY = env.str("SECRET_KEY", default="")
    if len(SECRET_KEY) < 50:
        raise ImproperlyConfigured("SECRET_KEY must be set (50+ characters) when DJANGO_DEBUG is off")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "simple_history",
    "axes",
    "monitoring",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Cache-Control: no-store on every signed-in page and API answer; the CSP header on every page.
    "monitoring.middleware.NoStoreMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Sessions end after SESSION_IDLE_MINUTES without a person's request; timed refreshes do not count.
    "monitoring.guards.idle.IdleSessionMiddleware",
    # A person's own change stamps her session, so the ward's shared rows never hide it from her.
    "monitoring.guards.writes.LastWriteMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    # AxesMiddleware should be the last middleware (django-axes docs).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "neutrowatch.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "monitoring.context_processors.clinic",
                "csp.context_processors.nonce",
                "monitoring.context_processors.open_alerts",
                "monitoring.context_processors.registrations_waiting",
                "monitoring.context_processors.background",
            ],
        },
    },
]

WSGI_APPLICATION = "neutrowatch.wsgi.application"

# SQLite is the embedded default for `make run`; tests and production use PostgreSQL.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # `make run` has runserver, two workers and beat writing to one file: WAL lets readers go on
    # while one writes, IMMEDIATE takes the write lock up front (no "database is locked" when a
    # reader upgrades), and a writer waits up to 20 s for the lock instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "monitoring.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "ward"
LOGOUT_REDIRECT_URL = "login"

# A forgotten session on a ward computer ends by itself: after inactivity and at browser close.
# Inactivity is what the person does, not the ward's timed refresh (monitoring/guards/idle.py signs
# the session out, with a word on the login page). The session store's own expiry is a backstop a
# minute later, so the sign-out, not a silent expiry, is what the person meets. Each of her requests
# marks the session modified, so it is saved with a new expiry; a timed refresh is not.
SESSION_IDLE_SECONDS = env.int("SESSION_IDLE_MINUTES", default=30) * 60
SESSION_COOKIE_AGE = SESSION_IDLE_SECONDS + 60
SESSION_SAVE_EVERY_REQUEST = False
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

# Login throttling (django-axes): lock the username+IP after repeated failures.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.5)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_LOCKOUT_TEMPLATE = "registration/locked.html"
# Behind the proxy every request comes from 127.0.0.1: the client is the address the proxy appends to
# X-Forwarded-For (monitoring/guards/client_ip.py), else one username would be locked for everyone.
FORWARDED_ALLOW_IPS = env.list("FORWARDED_ALLOW_IPS", default=["127.0.0.1"])
AXES_CLIENT_IP_CALLABLE = "monitoring.guards.client_ip.client_ip"

# Content-Security-Policy (django-csp): scripts only from our own static files, never inline
# (an inline script needs nonce="{{ CSP_NONCE }}"; the nonce is sent only on pages that use it).
# Styles allow 'unsafe-inline': plotly.js inserts <style> rules and style attributes at run time;
# CSS cannot run script, and every other directive stays strict.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:", "blob:"],  # plotly's "download as PNG" makes data: and blob: images
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}

# The audit trail cannot be edited from the app: no "revert to this version" in the admin.
SIMPLE_HISTORY_REVERT_DISABLED = True

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env.str("TIME_ZONE", default="Europe/London")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Celery: Redis broker. Tasks are idempotent, so acks_late with reject-on-worker-lost
# re-delivers a task whose worker died mid-run instead of losing it.
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Saving a result must never fail because the broker is down: publishing gives up fast
# and the stale-forecast sweeper catches up (see monitoring.forecasts).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "max_retries": 1, "interval_start": 0, "interval_step": 0.2,
    # An unreachable (not refusing) broker host must not hold a save up either.
    "socket_connect_timeout": 2,
    # A task whose whole worker was killed (acks_late, never acked) is delivered again after this
    # many seconds; tasks take well under a second, so the default of an hour is far too long.
    "visibility_timeout": env.int("BROKER_VISIBILITY_TIMEOUT_SECONDS", default=300),
    # Look for such abandoned tasks every 10 s (kombu's default scans only every 100 s).
    "unacked_restore_interval": env.int("BROKER_UNACKED_RESTORE_INTERVAL_SECONDS", default=10),
    "unacked_restore_throttle": 1,
}
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# The queue tasks are published to (and workers started without -Q consume).
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
# Alert deliveries, escalation and catch-up on their own queues and workers (monitoring/routing.py):
#   celery -A neutrowatch worker -Q celery -c 2     recomputes (may back up by thousands)
#   celery -A neutrowatch worker -Q alerts -c 2     email and in-app deliveries, escalation, catch-up
#   celery -A neutrowatch worker -Q webhooks -c 4   webhook deliveries (a slow receiver waits here only)
CELERY_TASK_ROUTES = ("monitoring.routing.route_task",)
CELERY_TIMEZONE = TIME_ZONE
# How often beat runs the delivery catch-up job (read by NEUTROWATCH below too).
DELIVERY_CATCHUP_INTERVAL_SECONDS = env.float("DELIVERY_CATCHUP_INTERVAL_SECONDS", default=60.0)
# Beat jobs (run `celery -A neutrowatch beat`): catch up stale forecasts (e.g. saved while the
# broker was down), re-run the time-dependent alert rules, escalate unacknowledged alerts.
CELERY_BEAT_SCHEDULE = {
    "recompute-stale": {"task": "monitoring.tasks.recompute_stale", "schedule": 300.0},
    "sweep-alerts": {"task": "monitoring.tasks.sweep", "schedule": 300.0},
    "escalate-alerts": {"task": "monitoring.tasks.escalate", "schedule": 60.0},
    # A delivery still pending a minute after it was written (its task was never published, e.g.
    # Redis was down) is published again: email and webhook go out within 2 minutes of Redis returning.
    # It also re-sends a delivery whose lease lapsed (its worker died mid-send), and schedules the
    # re-send of one whose lease lapses before its next run, at that moment (monitoring/alerts/delivery.py).
    "redispatch-pending-deliveries": {
        "task": "monitoring.tasks.redispatch_pending_deliveries",
        "schedule": DELIVERY_CATCHUP_INTERVAL_SECONDS,
    },
    # Forecasts out of date for over a minute with nothing queued (their recompute was lost with
    # the broker) are published again: fresh within about a minute of Redis returning (issue 25).
    "recompute-lost-forecasts": {
        "task": "monitoring.stale_forecasts.recompute_lost_forecasts",
        "schedule": env.float("STALE_FORECAST_CATCHUP_INTERVAL_SECONDS", default=60.0),
    },
    # Regimen priors learned from the clinic's own patients (monitoring/forecasting/population.py).
    "learn-regimen-priors": {"task": "monitoring.tasks.learn_regimen_priors", "schedule": 86400.0},
    # Escalation steps due (monitoring/duty/timers.py): the rows are the record, this fires them.
    "duty-escalation-auditor": {
        "task": "monitoring.tasks.audit_escalations", "schedule": env.float("DUTY_AUDITOR_SECONDS", default=30.0),
    },
}
# Tasks outside monitoring/tasks.py that workers must know.
CELERY_IMPORTS = ["monitoring.stale_forecasts"]
# A forecast older than its inputs by more than this is late: /healthz and the banner say so.
STALE_FORECAST_AFTER_SECONDS = env.int("STALE_FORECAST_AFTER_SECONDS", default=60)
# Heartbeats (monitoring/health.py): beat records its own every HEARTBEAT_INTERVAL_SECONDS (this
# scheduler) and sends a heartbeat task to each worker queue as often; an expired one (queue backed
# up) is dropped. The MLLP listener records its own as often. A component silent for longer than
# HEARTBEAT_LATE_SECONDS is named on /healthz and the banner as late, for longer than
# HEARTBEAT_DOWN_SECONDS as stopped.
HEARTBEAT_INTERVAL_SECONDS = env.float("HEARTBEAT_INTERVAL_SECONDS", default=15.0)
HEARTBEAT_LATE_SECONDS = env.int("HEARTBEAT_LATE_SECONDS", default=60)
HEARTBEAT_DOWN_SECONDS = env.int("HEARTBEAT_DOWN_SECONDS", default=180)
# The MLLP listener's heartbeat: "auto" expects it once a listener has run here, "required" always,
# "off" never (a site that takes no results over HL7 MLLP).
HEALTH_MLLP = env.str("HEALTH_MLLP", default="auto")
CELERY_BEAT_SCHEDULER = "neutrowatch.celery:HeartbeatScheduler"
CELERY_ALERTS_QUEUE = env.str("CELERY_ALERTS_QUEUE", default="alerts")
CELERY_WEBHOOKS_QUEUE = env.str("CELERY_WEBHOOKS_QUEUE", default="webhooks")
HEARTBEAT_QUEUES = env.list(
    "HEARTBEAT_QUEUES", default=[CELERY_TASK_DEFAULT_QUEUE, CELERY_ALERTS_QUEUE, CELERY_WEBHOOKS_QUEUE]
)
CELERY_BEAT_SCHEDULE.update({
    f"heartbeat-{queue}": {
        "task": "monitoring.tasks.heartbeat", "schedule": HEARTBEAT_INTERVAL_SECONDS, "args": [f"worker-{queue}"],
        "options": {"queue": queue, "expires": HEARTBEAT_INTERVAL_SECONDS - 1},
    }
    for queue in HEARTBEAT_QUEUES
})

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
# Short: a slow SMTP server must not hold an alerts worker long (the delivery is retried).
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT_SECONDS", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="neutrowatch@localhost")

# Clinic-wide clinical settings (defaults and sources in monitoring/clinical.py).
NEUTROWATCH = {
    "ANC_LLN_1E9_PER_L": env.float("ANC_LLN_1E9_PER_L", default=1.8),
    # 0.2: a missed grade 4 weighed as 4 false alerts (the argument and its measures beside
    # GRADE4_PREDICTED_PROBABILITY in monitoring/clinical/thresholds.py; a test keeps them equal).
    "GRADE4_PREDICTED_THRESHOLD": env.float("GRADE4_PREDICTED_THRESHOLD", default=0.2),
    # Hysteresis of forecast-driven alerts (issue 21 item 10; ANSI/ISA 18.2 deadband and re-alarm
    # delay): a live "grade 4 predicted" clears only below the clear threshold; once cleared, an alert
    # of the same kind and cycle is not raised again within ALERT_REARM_HOURS unless P(grade 4)
    # reaches the raise threshold plus ALERT_REARM_MARGIN.
    "GRADE4_PREDICTED_CLEAR_THRESHOLD": env.float("GRADE4_PREDICTED_CLEAR_THRESHOLD", default=0.1),
    "ALERT_REARM_HOURS": env.float("ALERT_REARM_HOURS", default=24.0),
    "ALERT_REARM_MARGIN": env.float("ALERT_REARM_MARGIN", default=0.15),
    "ESCALATE_AFTER_MINUTES": env.int("ESCALATE_AFTER_MINUTES", default=30),
    # Alerts (monitoring/alerts.py). Issue 4: "not ready" when P(ANC >= threshold on the
    # next day 1) < 0.5; severities 1 low, 2 medium, 3 high, 4 critical.
    "NOT_READY_PROBABILITY": env.float("NOT_READY_PROBABILITY", default=0.5),
    # Fever definition (issue 21 item 6; sources in monitoring/clinical/thresholds.py): "nice_idsa", the
    # default and most sensitive: NICE CG151 (> 38.0 C with ANC <= 0.5) together with IDSA 2010 / CTCAE
    # (>= 38.3 C once, or >= 38.0 C sustained over 1 h); or a local policy, "nice" (NICE only, keeping
    # the sustained rule) or "idsa" (IDSA / CTCAE only). Named on every fever alert.
    "FEVER_POLICY": env.str("FEVER_POLICY", default="nice_idsa").strip().lower(),
    # A fever this many days after the last chemotherapy dose is a possible neutropenic sepsis, whether
    # the course is active or ended (default 42: 6 weeks, the UKONS 24-hour triage tool's scope).
    "POST_CHEMO_FEVER_WINDOW_DAYS": env.int("POST_CHEMO_FEVER_WINDOW_DAYS", default=42),
    "EMAIL_MIN_SEVERITY": env.int("ALERT_EMAIL_MIN_SEVERITY", default=3),
    "WEBHOOK_MIN_SEVERITY": env.int("ALERT_WEBHOOK_MIN_SEVERITY", default=1),
    "DELIVERY_MAX_ATTEMPTS": env.int("ALERT_DELIVERY_MAX_ATTEMPTS", default=6),
    "DELIVERY_RETRY_BASE_SECONDS": env.float("ALERT_DELIVERY_RETRY_BASE_SECONDS", default=30.0),
    "DELIVERY_RETRY_MAX_SECONDS": env.float("ALERT_DELIVERY_RETRY_MAX_SECONDS", default=300.0),
    # Short: a receiver slower than this is retried later instead of holding a webhooks worker.
    "WEBHOOK_TIMEOUT_SECONDS": env.float("ALERT_WEBHOOK_TIMEOUT_SECONDS", default=5.0),
    # Catch-up (monitoring.alerts.delivery.redispatch_pending): re-publish deliveries pending this long.
    "DELIVERY_CATCHUP_AFTER_SECONDS": env.float("DELIVERY_CATCHUP_AFTER_SECONDS", default=60.0),
    "DELIVERY_CATCHUP_INTERVAL_SECONDS": DELIVERY_CATCHUP_INTERVAL_SECONDS,
    # A worker's claim on the attempt it is sending lasts this long and is renewed every third of it
    # while the transport runs; a worker killed mid-send lets it lapse and the delivery is sent again.
    "DELIVERY_LEASE_SECONDS": env.float("ALERT_DELIVERY_LEASE_SECONDS", default=30.0),
    # Queues of their own for deliveries (monitoring/routing.py).
    "ALERTS_QUEUE": CELERY_ALERTS_QUEUE,
    "WEBHOOKS_QUEUE": CELERY_WEBHOOKS_QUEUE,
    "SITE_URL": env.str("SITE_URL", default="http://127.0.0.1:8000"),
    # Escalation timers (monitoring/duty/): the auditor fires due steps this often; a step due
    # within the horizon is also sent to the worker as a countdown (a speed-up, not the record).
    # Below the broker's visibility timeout (300 s): Redis re-delivers a message held longer.
    "DUTY_AUDITOR_SECONDS": env.float("DUTY_AUDITOR_SECONDS", default=30.0),
    "DUTY_COUNTDOWN_HORIZON_SECONDS": env.float("DUTY_COUNTDOWN_HORIZON_SECONDS", default=240.0),
    # SMS through an HTTP gateway (monitoring/transports/sms.py); no URL, no SMS. The payload is a
    # string.Template: $to, $body and $key are replaced by JSON strings (quoted and escaped).
    "SMS_GATEWAY_URL": env.str("SMS_GATEWAY_URL", default=""),
    "SMS_GATEWAY_PAYLOAD": env.str("SMS_GATEWAY_PAYLOAD",
                                   default='{"to": $to, "message": $body, "reference": $key}'),
    "SMS_GATEWAY_CONTENT_TYPE": env.str("SMS_GATEWAY_CONTENT_TYPE", default="application/json"),
    "SMS_GATEWAY_AUTH_HEADER": env.str("SMS_GATEWAY_AUTH_HEADER", default=""),  # e.g. "Authorization: Bearer ..."
    "SMS_GATEWAY_TIMEOUT_SECONDS": env.float("SMS_GATEWAY_TIMEOUT_SECONDS", default=5.0),
    # Who is told, at once and as a critical alert, of a grade 3-4 count or a fever for an MRN nobody
    # has registered (monitoring/alerts/unregistered.py): usernames (in-app and email) and email
    # addresses, comma-separated. Empty: every active administrator and every team's escalation contact.
    "UNREGISTERED_RESULT_RECIPIENTS": env.list("UNREGISTERED_RESULT_RECIPIENTS", default=[]),
}

if HEALTH_MLLP not in ("auto", "required", "off"):
    raise ImproperlyConfigured(f"HEALTH_MLLP must be 'auto', 'required' or 'off', not {HEALTH_MLLP!r}")
if NEUTROWATCH["FEVER_POLICY"] not in ("nice_idsa", "idsa", "nice"):
    raise ImproperlyConfigured(
        f"FEVER_POLICY must be 'nice_idsa', 'idsa' or 'nice', not {NEUTROWATCH['FEVER_POLICY']!r}")
if NEUTROWATCH["POST_CHEMO_FEVER_WINDOW_DAYS"] < 1:
    raise ImproperlyConfigured("POST_CHEMO_FEVER_WINDOW_DAYS must be 1 or more")

if NEUTROWATCH["DELIVERY_LEASE_SECONDS"] <= 0 or NEUTROWATCH["DELIVERY_CATCHUP_INTERVAL_SECONDS"] <= 0:
    raise ImproperlyConfigured("ALERT_DELIVERY_LEASE_SECONDS and DELIVERY_CATCHUP_INTERVAL_SECONDS must be positive")

# Results import: the largest body POST /api/v1/results accepts (413 above it) and the largest upload.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=5 * 1024 * 1024)
IMPORT_MAX_UPLOAD_BYTES = env.int("IMPORT_MAX_UPLOAD_BYTES", default=20 * 1024 * 1024)
# The MLLP listener retries database work this long (a database restart) before answering AE "send again".
MLLP_DB_RETRY_SECONDS = env.float("MLLP_DB_RETRY_SECONDS", default=60.0)
# The addresses (or networks, 10.1.2.0/24) the MLLP listener takes results from: it authenticates
# nobody and writes for every team, so only the laboratory's interface engine. Others are hung up on.
MLLP_ALLOWED_PEERS = env.list("MLLP_ALLOWED_PEERS", default=["127.0.0.1", "::1"])
for _peer in MLLP_ALLOWED_PEERS:
    try:
        ipaddress.ip_network(_peer, strict=False)
    except ValueError as exc:
        raise ImproperlyConfigured(f"MLLP_ALLOWED_PEERS: {exc} (addresses or networks, comma-separated)") from exc

# The ward overview refreshes its rows this often (htmx), keeping filters and scroll.
WARD_REFRESH_SECONDS = env.int("WARD_REFRESH_SECONDS", default=30)
# The ward's rows are drawn at most once per this many seconds for everyone who sees the same teams
# with the same filters, and shared by the web processes through the "ward" cache (Redis). A row is
# never older than this, nor older than the viewer's own last change (views/ward_cache.py). 0: drawn
# on every request, the cache unused.
WARD_ROWS_MAX_AGE_SECONDS = env.float("WARD_ROWS_MAX_AGE_SECONDS", default=1.0)

# "default" is each process's own memory (nothing uses it for shared state). "ward" holds the
# ward's drawn rows for a second or two; if it is down or slow the rows are drawn directly, so its
# timeouts are short: a stopped Redis answers at once, an unreachable one within a quarter second.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "ward": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env.str("WARD_CACHE_URL", default=REDIS_URL),
        "KEY_PREFIX": "nw-ward",
        "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.25},
    },
}

if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # The health check is polled over plain HTTP from inside the network; it holds no patient data.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"refusal_without_traceback": {"()": "neutrowatch.log_filters.RefusalWithoutTraceback"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # On the logger, not a handler: it then applies before Django's own console handler too.
    "loggers": {"django.request": {"filters": ["refusal_without_traceback"]},
                "django.db.backends": {"level": "WARNING"}},
}
