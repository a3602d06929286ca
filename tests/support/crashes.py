"""Writers that die at a chosen point, as a kill -9 there would leave things: `os._exit` in a
fresh Django process (no cleanup, no rollback hook), on this run's database and Redis."""

from __future__ import annotations

import subprocess
import sys

from tests.support.processes import ROOT, child_env

# Killed right after the commit, before the writer publishes anything.
AFTER_COMMIT = "outbox.publish_rows = lambda rows: os._exit(9)"

# Killed after Redis logged the events, before the rows' deletion commits.
AFTER_REDIS = """
logged = outbox.publish_entries
def publish_then_die(entries):
    logged(entries)
    os._exit(9)
outbox.publish_entries = publish_then_die
"""

# One transaction with two events (labels crash-1, crash-2) for the company's queue.
_WRITER = """
import os
from django.db import transaction
from events import outbox
from events.schema import EventType, make_event

{crash}

with transaction.atomic():
    outbox.publish_on_commit([
        make_event(EventType.QUEUE_UPDATED, {company}, {{"label": "crash-1"}}, queue=True),
        make_event(EventType.QUEUE_UPDATED, {company}, {{"label": "crash-2"}}, queue=True),
    ])
print("survived")
"""


def run_django(code: str) -> subprocess.CompletedProcess[bytes]:
    """`code` in a fresh Django process (`manage.py shell -c`)."""
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "shell", "-c", code],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        timeout=120,
        check=False,
    )


def crashing_writer(company_id: int, crash: str) -> subprocess.CompletedProcess[bytes]:
    """Two events for the company's queue in one transaction; the process dies at `crash`."""
    return run_django(_WRITER.format(company=company_id, crash=crash))
