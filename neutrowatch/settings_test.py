"""Settings for the test suite: the real PostgreSQL and Redis, fast password hashing."""
import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/neutrowatch")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/1")

from neutrowatch.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
AXES_FAILURE_LIMIT = 5
WARD_ROWS_MAX_AGE_SECONDS = 0  # every ward request drawn from the tables; the ward cache's own tests set it
