"""Test settings: the real settings, pointed at PostgreSQL and a Redis database of our own.

pytest-django imports settings before any conftest runs, so the defaults live here.
"""

import os

from tests.support.clock import shift

# Before anything reads the time: the run's clock may be shifted (tests/support/clock.py).
CLOCK_OFFSET_SECONDS = shift()

# One id per test run, inherited by the processes a test starts (routers, timers, servers), so
# that concurrent runs on one machine never share a test database or Redis keys.
RUN_ID = os.environ.setdefault("SWITCHBOARD_TEST_RUN", str(os.getpid()))
os.environ.setdefault("DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:5432/switchboard")
os.environ.setdefault("TEST_DATABASE_NAME", f"test_switchboard_{RUN_ID}")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("REDIS_KEY_PREFIX", f"sbtest{RUN_ID}")
os.environ.setdefault("DATABASE_POOL", "false")
os.environ.setdefault("SWITCHBOARD_VAR_DIR", os.path.join(os.getcwd(), "var", "test"))
# The provider stand-in (tests/support/provider_server.py) listens on 127.0.0.1: replies may
# reach it. Tests of the address rules set OUTBOUND_ALLOWED_HOSTS themselves.
os.environ.setdefault("OUTBOUND_ALLOWED_HOSTS", "127.0.0.1")
# DEBUG stays off as in production, which needs a long key (child processes inherit it).
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")

from routing_service.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# WhiteNoise warns on every request when the collected-static folder is missing.
STATIC_ROOT = VAR_DIR / "static"  # noqa: F405
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
