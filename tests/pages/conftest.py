"""Fixtures for the page tests: their data (tests/pages/world.py), daphne, one headless Chromium.

The data is made once per module and committed (daphne, a child process, reads it); the
module ends by emptying the test database, as tests/tenancy/test_create_sample_data.py does.
One Chromium per module; one browser context per person, logged in once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.core.management import call_command
from django.db import connection, connections
from django.test import override_settings

from tests.conftest import delete_run_keys
from tests.pages import world
from tests.pages.browser import Tab
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, CspWatch
from tests.support.processes import child_env, serving_asgi, wait_for_other_sessions_to_end


@pytest.fixture(scope="module")
def sample_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pages-media")


@pytest.fixture(scope="module")
def sample_data(django_db_setup: Any, django_db_blocker: Any, sample_media: Path) -> Iterator[None]:
    """The module's data (tests/pages/world.py), committed; emptied at the module's end."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    with override_settings(MEDIA_ROOT=sample_media), django_db_blocker.unblock():
        delete_run_keys(client)
        world.build()
    try:
        yield
    finally:
        with django_db_blocker.unblock():
            connections.close_all()
            wait_for_other_sessions_to_end()
            call_command("flush", interactive=False, verbosity=0)
            # daphne is gone: a session still open is one the ORM opened under Playwright's
            # greenlet, which no close_all() here can reach; the test database must drop.
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            connections.close_all()
        delete_run_keys(client)
        client.close()


@pytest.fixture(scope="module")
def server(sample_data: None, django_db_blocker: Any, sample_media: Path) -> Iterator[str]:
    """daphne serving the whole ASGI application on the module's data; its base URL."""
    with django_db_blocker.unblock():
        env = child_env(MEDIA_ROOT=str(sample_media))
    with serving_asgi(env) as (port, _):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's Chromium through Playwright, for the whole module."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; the tests' own ORM
    # calls are still plain synchronous code on this thread only.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            try:
                yield browser
            finally:
                browser.close()
                # Django's per-thread connections follow context variables, which
                # Playwright's greenlet switches: the ORM calls made meanwhile got connections
                # of their own, reachable only from here. Left open, the next Playwright
                # session finds them again — after the module's end has terminated them.
                connections.close_all()
    finally:
        connections.close_all()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="module")
def tabs(chromium: Any, server: str) -> Iterator[Callable[..., Tab]]:
    """`tabs(username)`: that person's tab, logged in (`tabs("")`: nobody's), one browser
    context each, made once. Every context is checked for Content-Security-Policy violations
    at the end of the module, but for those opened with `watch_csp=False`."""
    opened: dict[tuple[str, bool], Tab] = {}
    watches: list[CspWatch] = []

    def tab(username: str, *, watch_csp: bool = True) -> Tab:
        key = (username, watch_csp)
        if key not in opened:
            context = chromium.new_context(viewport={"width": 1366, "height": 768})
            watch = CspWatch(context)
            if watch_csp:
                watches.append(watch)
            page = Tab(context.new_page(), server)
            if username:
                page.log_in(username, world.PASSWORD)
            opened[key] = page
        return opened[key]

    try:
        yield tab
        for watch in watches:
            watch.assert_none()
    finally:
        for page in opened.values():
            page.page.context.close()
