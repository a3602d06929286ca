"""The test run's wall clock, shifted on request so that a test which passes only at some hours
of the day fails at once, whatever the hour CI happens to run.

``SWITCHBOARD_TEST_CLOCK`` names the time the run starts at: ``HH:MM`` (today, UTC) or an ISO 8601
instant (``2027-03-28T00:30:00+00:00``, e.g. the night a company's time zone changes to summer
time). The shift is computed once, into ``SWITCHBOARD_TEST_CLOCK_OFFSET`` (seconds), which every
process the run starts inherits and applies in turn (they all import ``tests.settings``), so
routers, timers and servers agree on the time with the tests. Time keeps flowing from there.

time-machine moves ``time.time``, ``datetime.now`` and friends; monotonic clocks, sleeps and
timeouts are untouched, and so are the clocks of PostgreSQL, Redis and the browser. Nothing in
the product compares those with its own wall clock, so a test that fails only because of that
has found a bug.
"""

from __future__ import annotations

import datetime as dt
import os
import time

CLOCK = "SWITCHBOARD_TEST_CLOCK"
OFFSET = "SWITCHBOARD_TEST_CLOCK_OFFSET"


def _target(spec: str, now: float) -> float:
    """The instant `spec` names, as a Unix time."""
    if len(spec) == 5 and spec[2] == ":":
        hour, minute = int(spec[:2]), int(spec[3:])
        today = dt.datetime.fromtimestamp(now, dt.UTC)
        return today.replace(hour=hour, minute=minute, second=0, microsecond=0).timestamp()
    moment = dt.datetime.fromisoformat(spec)
    if moment.tzinfo is None:
        raise ValueError(f"{CLOCK}={spec!r} needs a UTC offset (or use HH:MM for today, UTC)")
    return moment.timestamp()


def shift() -> float:
    """Start travelling if this run asks for it; returns the offset in seconds (0: real time)."""
    offset = os.environ.get(OFFSET)
    if offset is None:
        spec = os.environ.get(CLOCK, "").strip()
        if not spec:
            return 0.0
        real = time.time()
        offset = repr(_target(spec, real) - real)
        os.environ[OFFSET] = offset  # children inherit the same shift
    seconds = float(offset)
    if seconds:
        import time_machine

        time_machine.travel(time.time() + seconds, tick=True).start()
    return seconds
