"""Dashboards, session search and exports read from a real streaming replica (issue 15).

A private primary and its ``pg_basebackup`` standby (``streaming_pair``) run on free ports; a
nested pytest run points ``DATABASE_URL`` at the primary and ``DATABASE_REPLICA_URL`` at the
standby (its test database is created and migrated on the primary and replicates), and runs
``through_replica/``: reads inside the context hit the standby, a user's own writes are seen at
once, replay paused past the lag limit and a stopped standby fall back to the primary.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.replica.streaming_pair import streaming_pair
from tests.support.processes import ROOT


@pytest.mark.timeout(300)
def test_pages_read_from_a_streaming_replica() -> None:
    run = f"rep{uuid.uuid4().hex[:10]}"
    with streaming_pair() as (primary, standby):
        env = {
            **os.environ,
            "DATABASE_URL": primary.url,
            "DATABASE_REPLICA_URL": standby.url,
            "REPLICA_TEST_STANDBY_DATA": str(standby.data),
            "SWITCHBOARD_TEST_RUN": run,
            "TEST_DATABASE_NAME": f"test_switchboard_{run}",
            "REDIS_KEY_PREFIX": f"sbtest{run}",
        }
        env.pop("PYTEST_XDIST_WORKER", None)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-x",
                "-p",
                "no:cacheprovider",
                # The standby is stopped by the last scenario: nothing to drop on it; the
                # private primary goes with its folder.
                "--reuse-db",
                "tests/replica/through_replica",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
    log = Path(os.environ.get("SWITCHBOARD_VAR_DIR", ROOT / "var" / "test")) / "replica-run.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(result.stdout + result.stderr)
    summary = (result.stdout.strip().splitlines() or [""])[-1]
    assert result.returncode == 0, f"(whole output: {log})\n" + result.stdout[-4000:]
    assert " passed" in summary and "skipped" not in summary, summary
