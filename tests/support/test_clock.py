"""The run's shifted clock (tests/support/clock.py): parsed once, shared with child processes."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time

import pytest

from tests.support import clock


def test_hh_mm_names_today_in_utc() -> None:
    now = dt.datetime(2026, 12, 3, 9, 21, 27, tzinfo=dt.UTC).timestamp()
    target = clock._target("00:30", now)
    assert dt.datetime.fromtimestamp(target, dt.UTC) == dt.datetime(
        2026, 12, 3, 0, 30, tzinfo=dt.UTC
    )


def test_an_instant_needs_its_offset() -> None:
    assert (
        clock._target("2026-10-25T00:30:00+00:00", 0)
        == dt.datetime(2026, 10, 25, 0, 30, tzinfo=dt.UTC).timestamp()
    )
    with pytest.raises(ValueError, match="UTC offset"):
        clock._target("2026-10-25T00:30:00", 0)


def test_a_child_process_keeps_the_runs_clock() -> None:
    """Routers and servers started by a test see the same time as the test itself."""
    code = "import time; from tests.support.clock import shift; shift(); print(time.time())"
    env = {**os.environ, clock.OFFSET: "-3600", clock.CLOCK: "12:00"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    # The inherited offset wins over the spec, so every process agrees on the time.
    assert (
        abs(float(out.stdout) - (time.time() - float(os.environ.get(clock.OFFSET, 0)) - 3600)) < 60
    )
