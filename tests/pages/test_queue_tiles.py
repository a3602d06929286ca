"""The wallboard's queue tiles in headless Chromium: one tile per queue with waiting, longest
wait, service level, ASA, needed vs available and the expected service level, pushed by
`wallboard.stats`; they fit at 1366×768 and 390×844 (dark, the wallboard's only scheme), pass
axe-core, and a screenshot of each size is kept (tests/pages/browser.py's ARTIFACTS)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from analytics import queue_counters
from routing_service.queues.models import Queue
from routing_service.tenancy.models import Company
from tests.pages.browser import SIZES, Tab

pytestmark = [pytest.mark.browser, pytest.mark.django_db]


@pytest.fixture(scope="module")
def queues(sample_data: None, django_db_blocker: Any) -> list[str]:
    """Three queues of acme, two with an hour of traffic in the live counters."""
    with django_db_blocker.unblock():
        acme = Company.objects.get(slug="acme")
        default, _ = Queue.objects.unscoped().get_or_create(
            company=acme, is_default=True, defaults={"name": "General"}
        )
        billing = Queue.objects.unscoped().create(
            company=acme, name="Billing", service_level_seconds=60
        )
        Queue.objects.unscoped().create(
            company=acme, name="VIP customers with a rather long queue name that must wrap"
        )
        names = list(
            Queue.objects.unscoped()
            .filter(company=acme)
            .order_by("-is_default", "name")
            .values_list("name", flat=True)
        )
    now = timezone.now()
    increments: list[queue_counters.Increment] = []
    for n in range(30):
        at = now - dt.timedelta(minutes=n * 2)
        for queue, wait in ((default.pk, 12 + n), (billing.pk, 40 + 3 * n)):
            increments += queue_counters.arrived(queue, at - dt.timedelta(seconds=wait))
            increments += queue_counters.answered(queue, at - dt.timedelta(seconds=wait), at, 20)
            increments += queue_counters.handled(queue, at, at + dt.timedelta(seconds=400))
    queue_counters.write(acme.pk, increments)
    return names


def test_the_wallboard_shows_a_tile_per_queue_that_fits_and_passes_axe(
    queues: list[str], tabs: Callable[..., Tab]
) -> None:
    tab = tabs("acme-supervisor")
    tab.problems.clear()
    tab.open("/wallboard/")
    tab.page.wait_for_selector("#connection[data-state=live]", timeout=15_000)
    tab.page.wait_for_selector(".queue-tile", timeout=15_000)
    names = tab.page.locator(".queue-tile h3").all_inner_texts()
    assert names == queues
    first = tab.page.locator(".queue-tile").first
    text = first.inner_text()
    assert "needed" in text and "available" in text
    assert "sl 20 s" in text.lower() and "%" in text  # labels are upper case by CSS
    for size in SIZES:
        tab.view(size, "dark")
        tab.page.wait_for_timeout(100)
        assert tab.overflows() == [], size
        assert tab.axe() == [], size
        tab.shot("wallboard-queues", size, "dark")
    assert tab.problems == []
